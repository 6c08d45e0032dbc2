"""The default job runner: train, test and time one resolved mmengine config.

It builds mmengine's ``Runner`` from the resolved config the planner wrote, trains
(resuming from the last checkpoint in the work dir when the job is retried), tests on the
val split, and returns what mmengine does not log: the final test metrics (``test/``
prefix), ``params_m`` and ``time_ms`` (the benchmark harness's latency). The job process
(:mod:`orchestrator.job.worker`) logs them to the job's MLflow run.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import worker
from .atomic_checkpoint_hook import AtomicCheckpointHook, resume_checkpoint
from .timing_gate import exclusive_cores
from .worker import PROGRESS


def _test_shape(cfg: Any) -> tuple[int, int]:
    """(H, W) network input for the latency measurement, from the test pipeline's Resize.

    A keep-ratio resize to (long, short) gives short x min(long, 1.52 * short) rounded to
    32: 800x1216 for COCO's 1333x800 (the papers' timing size), 600x912 for Lite, 256x256
    for the toy set.
    """
    # The dataloader's pipeline is what runs; the top-level variable may be stale after a
    # profile override.
    ds = cfg.test_dataloader.dataset
    while "pipeline" not in ds and "dataset" in ds:
        ds = ds["dataset"]
    for step in ds.get("pipeline") or cfg.get("test_pipeline") or []:
        if step.get("type") == "Resize" and step.get("scale"):
            long_side, short = max(step["scale"]), min(step["scale"])
            return short, min(long_side, int(round(short * 1.52 / 32)) * 32)
    return 800, 1216


def measure_latency(runner: Any, job: Mapping[str, Any], run_id: str | None,
                    client: Any) -> float | None:
    """Median batch-1 latency (ms) of the trained model with the benchmark harness.

    Uses :func:`benchmarks.harness.measure_latency` (fixed detection count, warm-up,
    median over ``latency_images`` runs) so the tables' Time column is measured the same way
    as ``orchestrator bench``; logs ``time_ms`` and ``cm.time_hardware`` to the run.
    """
    runs = int(job.get("latency_images", 10))
    if runs <= 0:
        return None
    from benchmarks.harness.report import log_to_mlflow
    from benchmarks.harness.runner import measure_latency as bench_latency

    shape = tuple(job.get("latency_shape") or _test_shape(runner.cfg))
    from .distributed import unwrap

    # With the machine's cores to itself: no project job iterates meanwhile (the gate), and
    # what else ran is measured; a contended time is marked, and tables do not rank it.
    with exclusive_cores() as load:
        result = bench_latency(unwrap(runner.model), shape=shape, runs=runs, warmup=2,
                               stage_runs=0)
    print(f"time_ms: {'contended' if load.contended else 'alone'} (gate "
          f"{'held' if load.gated else 'NOT held'}, waited {load.waited_s:.1f} s, other "
          f"processes used {load.others_cores:.2f} cores)", flush=True)
    if client is not None and run_id is not None:
        log_to_mlflow(result, run_id, client)
        client.set_tag(run_id, "cm.time_contended", str(load.contended).lower())
        client.log_metric(run_id, "bench/others_cores", load.others_cores)
    return float(result["latency_ms"]["median"])


_AP_SUFFIXES = ("", "_50", "_75", "_s", "_m", "_l")


def fill_empty_coco(test: Mapping[str, Any], evaluators: Any) -> tuple[dict[str, Any], bool]:
    """Test metrics with the AP keys of a metric that returned nothing set to 0.0.

    mmdet's ``CocoMetric`` returns no keys at all when the model predicted nothing on the
    whole test set ("The testing results of the whole dataset is empty"); the AP of an empty
    detection set is 0, so the table gets 0.0 rather than a hole. Returns (metrics, whether
    anything was filled); the job process tags the run ``cm.empty_predictions=true`` then.
    """
    out = dict(test)
    filled = False
    for ev in evaluators if isinstance(evaluators, list | tuple) else [evaluators]:
        if not isinstance(ev, Mapping) or "CocoMetric" not in str(ev.get("type")):
            continue
        prefix = ev.get("prefix") or "coco"
        kinds = ev.get("metric", "bbox")
        for kind in [kinds] if isinstance(kinds, str) else kinds:
            keys = [f"{prefix}/{kind}_mAP{s}" for s in _AP_SUFFIXES]
            if kind in ("bbox", "segm") and not any(k in out for k in keys):
                out.update(dict.fromkeys(keys, 0.0))
                filled = True
    return out, filled


def use_atomic_checkpoints(runner: Any) -> None:
    """Swap the runner's ``CheckpointHook`` for :class:`AtomicCheckpointHook` (same state)."""
    from mmengine.hooks import CheckpointHook

    for hook in runner.hooks:
        if type(hook) is CheckpointHook:
            hook.__class__ = AtomicCheckpointHook  # a subclass adding no state


#: Where mmengine dumps the config it ran (with the orchestrator's hook and backend). The
#: job's ``config.py`` stays the planner's: it runs unchanged with tools/test.py.
RUNTIME_CONFIG = "runtime_config.py"


def job_config(job: Mapping[str, Any]) -> Any:
    """The job's mmengine ``Config``: its work dir, MLflow vis backend on the job's run and
    the progress hook added (shared by the training and the evaluation runner).

    Its file name is :data:`RUNTIME_CONFIG`, so mmengine's dump of it never overwrites the
    job's ``config.py``; the MLflow artifact ``config.py`` is the job's file too.
    """
    from mmengine.config import Config

    from . import mmengine_plugins  # noqa: F401  (registers the hook/backend)

    work = Path(job["work_dir"])
    loaded = Config.fromfile(job["config"])
    cfg = Config(loaded.to_dict(), cfg_text=loaded.text, filename=str(work / RUNTIME_CONFIG))
    cfg.work_dir = str(work)
    vis = dict(cfg.get("visualizer") or dict(type="DetLocalVisualizer", name="visualizer"))
    backends = [b for b in vis.get("vis_backends") or [dict(type="LocalVisBackend")]
                if "MLflow" not in str(b.get("type"))]
    if job.get("run_id"):
        backends.append(dict(type="CMMLflowVisBackend", run_id=job["run_id"],
                             tracking_uri=job["tracking_uri"], config_file=job["config"]))
    vis["vis_backends"] = backends
    cfg.visualizer = vis
    if int(job.get("rank", 0)) == 0:  # rank 0 alone reports progress
        cfg.custom_hooks = [*(cfg.get("custom_hooks") or []),
                            dict(type="CMProgressHook", path=str(work / PROGRESS),
                                 priority="VERY_LOW")]
    return cfg


def run(job: Mapping[str, Any]) -> dict[str, float]:
    """Train, test and measure one resolved mmengine config; returns the final metrics."""
    # Checkpoints (its own, resumed, and any load_from/Pretrained file) load with torch's
    # weights_only check on: importing centermask_mm allow-lists what mmengine pickles.
    from centermask_mm.utils import build_runner

    from . import distributed
    from .cores_gate_hook import CoresGateHook

    dist = distributed.Dist(int(job.get("rank", 0)), int(job.get("world_size", 1)),
                            int(job.get("local_rank", 0)), job.get("backend"))
    cfg = job_config(job)
    distributed.configure(cfg, dist)  # several ranks: DDP over the job's process group
    # Resume from the newest checkpoint that loads (a kill inside a save by an older hook
    # may have left last_checkpoint naming a deleted or truncated file).
    ckpt, notes = resume_checkpoint(Path(job["work_dir"]))
    for note in notes:
        print(f"resume: {note}", flush=True)
    if ckpt is not None:
        cfg.resume, cfg.load_from = True, str(ckpt)
        print(f"resume: from {ckpt}", flush=True)
    else:
        cfg.resume = False  # a first attempt: the config's own load_from (if any) applies
    try:
        runner = build_runner(cfg)  # honours a config's runner_type, as mmdet's tools do
    except (KeyError, TypeError, ValueError, AttributeError, ImportError,
            AssertionError) as exc:  # the config does not build: every attempt would fail
        raise worker.DeterministicJobError(f"the runner does not build: "
                                           f"{type(exc).__name__}: {exc}") from exc
    use_atomic_checkpoints(runner)
    runner.register_hook(CoresGateHook())  # a sibling's time_ms phase pauses this job
    client = worker.job_client(job)
    import torch

    from benchmarks.harness.hardware import hardware_info, time_hardware
    from centermask_mm.utils import count_params

    hardware = time_hardware(hardware_info("cuda" if torch.cuda.is_available() else "cpu"))
    if client is not None:
        client.set_tag(job["run_id"], "cm.hardware", hardware)
        distributed.log_batch(client, job["run_id"], cfg, dist)
    runner.train()
    # The trained weights are in memory; without this, test() would "resume" the last
    # checkpoint again (mmengine re-runs load_or_resume when nothing was loaded before).
    runner._has_loaded = True
    test, empty = fill_empty_coco(runner.test() or {}, cfg.get("test_evaluator"))
    if empty and client is not None:
        client.set_tag(job["run_id"], "cm.empty_predictions", "true")
    metrics: dict[str, float] = {}
    for key, value in test.items():
        if isinstance(value, int | float):
            metrics["test/" + key.replace("@", "_at_")] = float(value)
    metrics["params_m"] = count_params(distributed.unwrap(runner.model)) / 1e6
    latency = measure_latency(runner, job, job.get("run_id"), client)
    if latency is not None:
        metrics["time_ms"] = latency
    return metrics


