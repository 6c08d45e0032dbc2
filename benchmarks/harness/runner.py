"""Measurements: inference latency with a stage breakdown, training throughput, memory.

Method (perf-anchors §8 and §10, mmdet ``benchmark.py`` semantics with its pitfalls fixed):

- batch 1, synthetic image at a fixed input shape, no data loading, FP32, no conv-BN fusion;
- the timed call is ``model.test_step(batch)`` under ``torch.no_grad()``: data preprocessor
  (device copy, normalisation, padding), forward and post-processing (NMS and mask
  paste-back at ``ori_shape``), exactly what mmdet's ``InferenceBenchmark`` times; the COCO
  evaluator (RLE encoding) is excluded;
- ``warmup`` untimed runs, then ``runs`` timed runs; median and p90 (the mean is reported
  too but is not the headline: one descheduled run moves it);
- ``torch.cuda.synchronize()`` before starting and before stopping the clock on GPU;
- a fixed detection count (:func:`~benchmarks.harness.models.fixed_detections`), checked
  on every run;
- the stage breakdown comes from separate runs with :class:`StageTimer` (its per-stage
  synchronisation would otherwise perturb the end-to-end figure on GPU); ``other`` is the
  part of those runs outside every stage, so the stages plus ``other`` add up to the staged
  total, which should be close to the end-to-end median.
"""
from __future__ import annotations

import functools
import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from .hardware import hardware_info
from .inputs import fresh, inference_batch, training_batch
from .memory import PeakMemory
from .models import build_model, fixed_detections, num_classes, run_test_step, run_train_step
from .stages import MacCounter, StageTimer, group_times


def summarize(ms: Sequence[float]) -> dict[str, Any]:
    """Median, p90, mean, std, min and max of timings (ms), plus the raw list.

    p90 is linear interpolation between order statistics (numpy's default).
    """
    values = [float(v) for v in ms]
    if not values:
        raise ValueError("summarize: no timings")
    ordered = sorted(values)
    pos = 0.9 * (len(ordered) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    p90 = ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
    return {
        "median": round(statistics.median(values), 3),
        "p90": round(p90, 3),
        "mean": round(statistics.fmean(values), 3),
        "std": round(statistics.stdev(values), 3) if len(values) > 1 else 0.0,
        "min": round(ordered[0], 3),
        "max": round(ordered[-1], 3),
        "n": len(values),
        "runs": [round(v, 3) for v in values],
    }


def model_device(model: nn.Module) -> torch.device:
    """Device of a model's first parameter (CPU for a parameter-less module)."""
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def _model_and_device(model_or_config: nn.Module | Any, device: str | torch.device | None
                      ) -> tuple[nn.Module, torch.device]:
    """A detector (unwrapped from DDP-style wrappers) and its device; builds from a config."""
    if isinstance(model_or_config, nn.Module):
        from mmengine.model import is_model_wrapper

        model = model_or_config
        while is_model_wrapper(model):
            model = model.get_submodule("module")  # the wrapped model
        return model, model_device(model)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return build_model(model_or_config, str(device)), torch.device(device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], Any], device: torch.device) -> tuple[float, Any]:
    _sync(device)
    start = time.perf_counter()
    out = fn()
    _sync(device)
    return (time.perf_counter() - start) * 1e3, out


def fresh_test_step(model: nn.Module, batch: dict[str, list]) -> list[Any]:
    """``model.test_step`` on a fresh copy of ``batch``: the unit every latency run times
    (the copy included; ``test_step`` writes its predictions into the data samples)."""
    return run_test_step(model, fresh(batch))


def _num_detections(out: Any) -> int:
    return int(len(out[0].pred_instances))


def predictions(out: Any) -> dict[str, torch.Tensor]:
    """The ``pred_instances`` tensors of the first image of a ``test_step`` output, on CPU."""
    inst = out[0].pred_instances
    return {k: v.detach().cpu() for k, v in inst.items() if isinstance(v, torch.Tensor)}


def _box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(n, m) IoU of (n, 4) and (m, 4) xyxy boxes."""
    lt = torch.max(a[:, None, :2], b[None, :, :2])
    rb = torch.min(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(-1)
    return inter / (area_a[:, None] + area_b[None, :] - inter).clamp(min=1e-9)


def compare_predictions(ref: dict[str, torch.Tensor], new: dict[str, torch.Tensor]
                        ) -> dict[str, Any]:
    """How far ``new`` predictions are from ``ref`` (the same image through another path).

    Detections with tied scores may come out in another order, so besides the index-wise
    comparison every reference box is matched to the new box it overlaps most.

    Returns:
        dict: ``identical`` (every tensor bit-equal), ``same_count``, ``labels_equal``,
        ``max_abs_<key>`` for float tensors of equal shape (index-wise),
        ``min_matched_iou`` (worst best-IoU of a reference box among the new boxes; 1.0
        when every box is found again) and ``mask_pixels_differ`` (fraction of mask pixels
        that differ between matched detections).
    """
    same_count = set(ref) == set(new) and all(ref[k].shape == new[k].shape for k in ref)
    out: dict[str, Any] = {"same_count": same_count}
    identical = same_count
    for key, a in ref.items():
        b = new.get(key)
        if b is None or a.shape != b.shape:
            identical = False
            continue
        if not torch.equal(a, b):
            identical = False
        if key == "labels":
            out["labels_equal"] = bool(torch.equal(a, b))
        elif key != "masks" and a.is_floating_point() and a.numel():
            out[f"max_abs_{key}"] = float((a - b).abs().max())
    out["identical"] = bool(identical)
    rb, nb = ref.get("bboxes"), new.get("bboxes")
    if rb is not None and nb is not None and len(rb) and len(nb):
        best, idx = _box_iou(rb.float(), nb.float()).max(dim=1)
        out["min_matched_iou"] = float(best.min())
        rm, nm = ref.get("masks"), new.get("masks")
        if rm is not None and nm is not None and rm.shape[1:] == nm.shape[1:]:
            out["mask_pixels_differ"] = float((rm != nm[idx]).float().mean())
    return out


def measure_latency(model_or_config: nn.Module | Any, shape: Sequence[int] = (800, 1216),
                    runs: int = 20, device: str | torch.device | None = None, *,
                    warmup: int = 5, stage_runs: int | None = None, fixed_count: bool = True,
                    ori_shape: Sequence[int] | None = None, seed: int = 0,
                    count_macs: bool = True, keep_predictions: bool = False) -> dict[str, Any]:
    """Inference latency per image at batch 1, with a stage breakdown and peak memory.

    The orchestrator's job worker calls this after training with ``runner.model``; the
    model is left as it was found (train/eval mode, classifier weights).

    Args:
        model_or_config: A built mmdet detector, or a config (path, ``mmdet::`` name,
            ``Config``) to build with random weights.
        shape (Sequence[int]): (H, W) network input before padding. Defaults to 800x1216.
        runs (int): Timed end-to-end runs (>= 1).
        device (str | torch.device, optional): Where a config is built; ignored for a
            model, which is measured where it is. Defaults to CUDA when available.
        warmup (int): Untimed runs first (>= 0).
        stage_runs (int, optional): Runs with the stage timer; defaults to ``runs``;
            0 skips the breakdown.
        fixed_count (bool): Force the test-time top-k detections (see
            :func:`~benchmarks.harness.models.fixed_detections`). Defaults to True.
        ori_shape (Sequence[int], optional): Original image shape for paste-back;
            defaults to ``shape``.
        seed (int): Seed of the synthetic image.
        count_macs (bool): One more run, after the measured ones (outside ``memory``),
            counting multiply-accumulates per stage with :class:`MacCounter`
            (``stage_gmacs``; needs ``stage_runs > 0``).
        keep_predictions (bool): Also return the last run's ``pred_instances`` tensors
            under ``'predictions'`` (not JSON-serialisable; used by equality checks).

    Returns:
        dict: ``shape``, ``ori_shape``, ``device``, ``threads``, ``warmup``,
        ``latency_ms`` (:func:`summarize` of the end-to-end runs), ``stages_ms`` (median
        exclusive ms per stage plus ``other``), ``stage_runs_ms`` (the same per staged
        run, with its ``total``), ``stage_groups_ms``, ``staged_total_ms``
        (median of the staged runs' totals), ``staged_over_end_to_end`` (their ratio to
        the end-to-end median, ~1 on a quiet machine), ``stage_gmacs`` / ``gmacs``
        (GMACs per stage, ``other`` for parts outside every stage, and in total;
        machine-independent), ``top_k``,
        ``detections`` (min and max over all runs), ``fixed_count`` (what was biased),
        ``memory`` (:class:`PeakMemory`), ``hardware`` (:func:`.hardware.hardware_info`).

    Raises:
        ValueError: ``runs < 1``, ``warmup < 0`` or a bad shape.
        RuntimeError: ``fixed_count`` is on and a run returned a different count than the
            top-k, which would make the latency incomparable.
    """
    if runs < 1 or warmup < 0 or (stage_runs is not None and stage_runs < 0):
        raise ValueError(f"measure_latency: need runs >= 1, warmup >= 0, stage_runs >= 0; "
                         f"got runs={runs}, warmup={warmup}, stage_runs={stage_runs}")
    model, dev = _model_and_device(model_or_config, device)
    stage_runs = runs if stage_runs is None else stage_runs
    batch = inference_batch(shape, ori_shape, seed=seed)
    was_training = model.training
    model.eval()
    counts: list[int] = []
    e2e: list[float] = []
    totals: list[float] = []
    per_stage: dict[str, list[float]] = {}
    others: list[float] = []
    out: Any = None
    macs: dict[str, int] = {}
    try:
        with fixed_detections(model) if fixed_count else _no_fix(model) as fix:
            with PeakMemory(dev) as mem, torch.no_grad():
                for _ in range(warmup):
                    out = fresh_test_step(model, batch)
                    counts.append(_num_detections(out))
                for _ in range(runs):
                    ms, out = _timed(functools.partial(fresh_test_step, model, batch), dev)
                    e2e.append(ms)
                    counts.append(_num_detections(out))
                if stage_runs:
                    with StageTimer(model, dev) as timer:
                        for _ in range(stage_runs):
                            data = fresh(batch)
                            timer.reset()
                            ms, out = _timed(functools.partial(run_test_step, model, data), dev)
                            totals.append(ms)
                            counts.append(_num_detections(out))
                            for name, t in timer.times.items():
                                per_stage.setdefault(name, []).append(t)
                            others.append(ms - sum(timer.times.values()))
            if stage_runs and count_macs:
                # A separate run after the measured ones, so that neither the timings nor
                # the peak memory include the recorded arguments or the tracing.
                with torch.no_grad(), MacCounter(model) as counter:
                    fresh_test_step(model, batch)
                macs = counter.macs
    finally:
        model.train(was_training)
    top_k = fix["top_k"]
    if fixed_count and fix["classifier"] is not None and top_k is not None and \
            any(c != top_k for c in counts):
        raise RuntimeError(
            f"fixed detection count not reached: expected {top_k} per image, got "
            f"{min(counts)}..{max(counts)} (input {tuple(shape)} may be too small for "
            f"{top_k} boxes to survive NMS)")
    stages: dict[str, float] = {k: round(statistics.median(v), 3) for k, v in per_stage.items()}
    if others:
        stages["other"] = round(statistics.median(others), 3)
    # Every staged run, so that its stages add up exactly to its total.
    stage_runs_ms = [{**{k: round(v[i], 3) for k, v in per_stage.items()},
                      "other": round(others[i], 3), "total": round(totals[i], 3)}
                     for i in range(len(totals))]
    result: dict[str, Any] = {
        "shape": [int(v) for v in shape],
        "ori_shape": [int(v) for v in (ori_shape or shape)],
        "device": str(dev),
        "threads": torch.get_num_threads(),
        "warmup": warmup,
        "latency_ms": summarize(e2e),
        "stages_ms": stages,
        "stage_runs_ms": stage_runs_ms,
        "stage_groups_ms": {k: round(v, 3) for k, v in group_times(stages).items()},
        "staged_total_ms": summarize(totals) if totals else None,
        # ~1 on a quiet machine; far from 1 means the timer or the machine disturbed the runs
        "staged_over_end_to_end": (round(statistics.median(totals) / statistics.median(e2e), 3)
                                   if totals else None),
        "stage_gmacs": {k: round(v / 1e9, 4) for k, v in macs.items()},
        "gmacs": round(sum(macs.values()) / 1e9, 4) if macs else None,
        "top_k": top_k,
        "detections": {"min": min(counts), "max": max(counts)},
        "fixed_count": dict(fix) if fixed_count else None,
        "memory": mem.result,
        "hardware": hardware_info(str(dev)),
    }
    if keep_predictions and out is not None:
        result["predictions"] = predictions(out)
    return result


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Median, min, max and quartiles (``statistics.quantiles``, inclusive) of ``values``."""
    v = sorted(values)
    q1, _, q3 = statistics.quantiles(v, n=4, method="inclusive") if len(v) > 1 else (v[0],) * 3
    return {"median": round(statistics.median(v), 4), "min": round(v[0], 4),
            "max": round(v[-1], 4), "q1": round(q1, 4), "q3": round(q3, 4), "n": len(v)}


def interleaved_latency(models: Sequence[nn.Module], shapes: Sequence[tuple[int, int]],
                        rounds: int, warmup: int = 5, fixed_count: bool = True,
                        ori_shape: tuple[int, int] | None = None, seed: int = 0
                        ) -> list[list[float]]:
    """Batch-1 latency (ms) of several models timed in turns: each model gets its warm-up,
    then every round times model 0, 1, 2, ... once each, so a slow spell of the machine
    falls on all of them alike and a ratio of two models is taken within one round.

    Returns:
        One list of ``rounds`` times per model, in the order given.
    """
    if rounds < 1 or warmup < 0 or len(models) != len(shapes):
        raise ValueError(f"interleaved_latency: need rounds >= 1, warmup >= 0 and a shape per "
                         f"model; got rounds={rounds}, warmup={warmup}, {len(models)} models, "
                         f"{len(shapes)} shapes")
    from contextlib import ExitStack

    nets = [_model_and_device(m, None) for m in models]
    batches = [inference_batch(s, ori_shape, seed=seed) for s in shapes]
    was_training = [m.training for m, _ in nets]
    times: list[list[float]] = [[] for _ in nets]
    try:
        with ExitStack() as stack, torch.no_grad():
            for model, _ in nets:
                model.eval()
                stack.enter_context(fixed_detections(model) if fixed_count else _no_fix(model))
            for (model, _), batch in zip(nets, batches, strict=True):
                for _ in range(warmup):
                    fresh_test_step(model, batch)
            for _ in range(rounds):
                for i, ((model, dev), batch) in enumerate(zip(nets, batches, strict=True)):
                    ms, _ = _timed(functools.partial(fresh_test_step, model, batch), dev)
                    times[i].append(ms)
    finally:
        for (model, _), mode in zip(nets, was_training, strict=True):
            model.train(mode)
    return times


def round_ratios(num: Sequence[float], den: Sequence[float]) -> dict[str, Any]:
    """:func:`spread` of the per-round ratios ``num[i] / den[i]`` of two interleaved models."""
    if len(num) != len(den) or not num:
        raise ValueError(f"round_ratios: need as many rounds on both sides, got {len(num)} "
                         f"and {len(den)}")
    return spread([a / b for a, b in zip(num, den, strict=True)])


class _no_fix:  # noqa: N801 - used like the fixed_detections context manager
    """Stand-in for :func:`fixed_detections` that changes nothing."""

    def __init__(self, model: nn.Module) -> None:
        from .models import detection_top_k

        self.info = {"classifier": None, "top_k": detection_top_k(model), "logit": None}

    def __enter__(self) -> dict[str, Any]:
        return self.info

    def __exit__(self, *exc: object) -> None:
        return None


def measure_training(model_or_config: nn.Module | Any, shape: Sequence[int] = (800, 1216),
                     steps: int = 5, device: str | torch.device | None = None, *,
                     batch_size: int = 2, warmup: int = 1, num_gt: int = 8, lr: float = 1e-4,
                     seed: int = 0) -> dict[str, Any]:
    """Training-step throughput and peak memory on synthetic images with random GT.

    One step is ``model.train_step`` (preprocessing, forward with losses, backward, SGD
    update) on ``batch_size`` images of ``shape`` with ``num_gt`` box-shaped instances each.
    The model's weights change: measure a fresh model, not a trained one you still need.

    Args:
        model_or_config: A built detector or a config to build with random weights.
        shape (Sequence[int]): (H, W) of the training images.
        steps (int): Timed steps (>= 1).
        device (str | torch.device, optional): Where a config is built.
        batch_size (int): Images per step. Defaults to 2 (mmdet's memory convention).
        warmup (int): Untimed steps first.
        num_gt (int): Objects per image.
        lr (float): SGD learning rate (small, so random-init losses stay finite).
        seed (int): Seed of the synthetic batch.

    Returns:
        dict: ``batch_size``, ``steps``, ``step_ms`` (:func:`summarize`), ``images_per_s``
        (batch_size / median step), ``final_loss`` and ``memory`` (:class:`PeakMemory`).
    """
    from mmengine.optim import OptimWrapper

    if steps < 1 or warmup < 0:
        raise ValueError(f"measure_training: need steps >= 1 and warmup >= 0, got "
                         f"steps={steps}, warmup={warmup}")
    model, dev = _model_and_device(model_or_config, device)
    batch = training_batch(shape, batch_size, num_classes(model), num_gt, seed)
    params = [p for p in model.parameters() if p.requires_grad]
    wrapper = OptimWrapper(torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=1e-4))
    was_training = model.training
    model.train()
    times: list[float] = []
    log: dict[str, Any] = {}
    try:
        with PeakMemory(dev) as mem:
            for _ in range(warmup):
                run_train_step(model, fresh(batch), wrapper)
            for _ in range(steps):
                ms, log = _timed(lambda: run_train_step(model, fresh(batch), wrapper), dev)
                times.append(ms)
    finally:
        model.train(was_training)
        wrapper.zero_grad()
    stats = summarize(times)
    loss = log.get("loss") if isinstance(log, dict) else None
    return {
        "shape": [int(v) for v in shape],
        "batch_size": batch_size,
        "num_gt": num_gt,
        "steps": steps,
        "warmup": warmup,
        "step_ms": stats,
        "images_per_s": round(batch_size * 1e3 / stats["median"], 3),
        "final_loss": float(loss.detach()) if loss is not None else None,
        "memory": mem.result,
    }
