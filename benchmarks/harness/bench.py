"""Benchmark several configs in one process: the ``bench`` command's engine.

Every model is built with random weights, measured (latency with stage breakdown, then
optionally the speed switches of :mod:`.options`, then training throughput), and freed
before the next, so all numbers in one result come from one machine and one software state.
"""
from __future__ import annotations

import datetime as _dt
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from .hardware import hardware_info
from .inputs import inference_batch
from .memory import release_memory
from .models import build_model, params_m
from .options import OPTION_NAMES, apply_options
from .runner import (
    compare_predictions,
    fresh_test_step,
    interleaved_latency,
    measure_latency,
    measure_training,
    round_ratios,
)

#: Version of the result JSON layout (bump on incompatible changes).
SCHEMA = "centermask_mm.benchmark/1"  # the name predates the harness's move to benchmarks/


@dataclass(frozen=True)
class ModelSpec:
    """One model to measure: ``[LABEL=]CONFIG[@HxW]`` on the command line.

    Attributes:
        config (str): Config path or ``mmdet::`` name.
        label (str): Name in tables (defaults to the config's file stem).
        shape (tuple[int, int] | None): Input (H, W) for this model; None = the run's.
    """

    config: str
    label: str
    shape: tuple[int, int] | None = None

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        """Parse ``[LABEL=]CONFIG[@HxW]``, e.g. ``lite=configs/x.py@600x1000``.

        Raises:
            ValueError: empty config or a malformed ``@HxW`` suffix.
        """
        label, _, rest = text.partition("=") if "=" in text else ("", "", text)
        config, shape = rest, None
        if "@" in rest:
            config, _, size = rest.rpartition("@")
            try:
                h, w = (int(v) for v in size.lower().split("x"))
            except ValueError:
                raise ValueError(f"model {text!r}: shape suffix must be @HxW, e.g. @600x1000, "
                                 f"got @{size}") from None
            shape = (h, w)
        if not config:
            raise ValueError(f"model {text!r}: no config")
        if not label:
            label = config.rsplit("/", 1)[-1].rsplit("::", 1)[-1].removesuffix(".py")
        return cls(config=config, label=label, shape=shape)


@dataclass
class BenchSettings:
    """Settings shared by every model of one run (see the ``bench`` command's help)."""

    device: str = "cpu"
    shape: tuple[int, int] = (800, 1216)
    ori_shape: tuple[int, int] | None = None
    runs: int = 20
    warmup: int = 5
    stage_runs: int | None = None
    threads: int | None = None
    fixed_count: bool = True
    train_steps: int = 0
    train_batch: int = 2
    train_shape: tuple[int, int] | None = None
    options: dict[str, bool] = field(default_factory=dict)
    each_option: bool = False
    seed: int = 0
    #: Time the reference models again in turns (A, B, A, B ...) for the ratios.
    interleave: bool = True

    def __post_init__(self) -> None:
        if self.runs < 1 or self.warmup < 0 or self.train_steps < 0 or self.train_batch < 1:
            raise ValueError("need runs >= 1, warmup >= 0, train_steps >= 0, train_batch >= 1")
        unknown = set(self.options) - set(OPTION_NAMES)
        if unknown:
            raise ValueError(f"unknown option(s) {sorted(unknown)}; known: {OPTION_NAMES}")


def _error(exc: BaseException) -> dict[str, Any]:
    return {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}


def _latency(model: torch.nn.Module, shape: tuple[int, int], settings: BenchSettings,
             keep_predictions: bool) -> tuple[dict[str, Any], Any]:
    """:func:`measure_latency` of ``model`` at ``shape`` under the run's ``settings``: the
    JSON-ready result and, apart, the last run's predictions (None unless kept)."""
    lat = measure_latency(model, shape, settings.runs, warmup=settings.warmup,
                          stage_runs=settings.stage_runs, fixed_count=settings.fixed_count,
                          ori_shape=settings.ori_shape, seed=settings.seed,
                          keep_predictions=keep_predictions)
    return lat, lat.pop("predictions", None)


def benchmark_model(spec: ModelSpec, settings: BenchSettings,
                    log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Measure one model; returns its entry and, with speed switches, an optimised entry.

    A failure is recorded in the entry (``error``, ``traceback``), never raised, so one
    broken config does not lose the others' numbers.
    """
    shape = spec.shape or settings.shape
    entry: dict[str, Any] = {"name": spec.label, "config": spec.config, "shape": list(shape),
                             "variant": "reference", "error": None}
    entries = [entry]
    model = None
    try:
        log(f"[bench] {spec.label}: building {spec.config}")
        model = build_model(spec.config, settings.device)
        entry["model_type"] = type(model).__name__
        entry["params_m"] = round(params_m(model), 3)
        want_opts = any(settings.options.values())
        log(f"[bench] {spec.label}: latency at {shape[0]}x{shape[1]}, "
            f"{settings.warmup} warm-up + {settings.runs} runs")
        lat, ref_preds = _latency(model, shape, settings, keep_predictions=want_opts)
        entry.update(lat)
        if want_opts:
            requested = [k for k in OPTION_NAMES if settings.options.get(k)]
            groups = ([{k: True} for k in requested] if settings.each_option
                      else [dict.fromkeys(requested, True)])
            for group in groups:
                entries.append(_optimised(model, spec, settings, group, shape, entry,
                                          ref_preds, log))
        if settings.train_steps:
            tshape = settings.train_shape or shape
            log(f"[bench] {spec.label}: training, batch {settings.train_batch} at "
                f"{tshape[0]}x{tshape[1]}, {settings.train_steps} steps")
            try:
                entry["train"] = measure_training(model, tshape, settings.train_steps,
                                                  batch_size=settings.train_batch,
                                                  seed=settings.seed)
            except Exception as exc:  # noqa: BLE001 - recorded, latency is kept
                entry["train"] = _error(exc)
    except Exception as exc:  # noqa: BLE001 - recorded, other models go on
        entry.update(_error(exc))
        log(f"[bench] {spec.label}: FAILED: {entry['error']}")
    finally:
        del model
        release_memory()
    return entries


def _optimised(model: torch.nn.Module, spec: ModelSpec, settings: BenchSettings,
               options: dict[str, bool], shape: tuple[int, int], ref: dict[str, Any],
               ref_preds: Any, log: Callable[[str], None]) -> dict[str, Any]:
    batch = inference_batch(shape, settings.ori_shape, seed=settings.seed)
    log(f"[bench] {spec.label}: trying {', '.join(options)}")
    state = apply_options(model, options, lambda: fresh_test_step(model, batch),
                          torch.device(settings.device).type)
    applied = state.applied
    entry: dict[str, Any] = {"name": f"{spec.label} [{'+'.join(applied) or 'none applied'}]",
                             "config": spec.config, "shape": list(shape),
                             "model_type": ref.get("model_type"), "params_m": ref.get("params_m"),
                             "variant": "optimised", "options": state.report, "error": None}
    for name, rep in state.report.items():
        if rep["error"]:
            log(f"[bench] {spec.label}: {name} not applied: {rep['error']}")
    if not applied:
        entry["error"] = "no requested option could be applied"
        return entry
    try:
        lat, preds = _latency(model, shape, settings, keep_predictions=True)
        entry.update(lat)
        entry["speedup_vs_reference"] = round(
            ref["latency_ms"]["median"] / lat["latency_ms"]["median"], 4)
        if ref_preds is not None and preds is not None:
            entry["output_diff"] = compare_predictions(ref_preds, preds)
    except Exception as exc:  # noqa: BLE001 - recorded
        entry.update(_error(exc))
    finally:
        state.undo()
    return entry


def interleave(entries: list[dict[str, Any]], specs: Sequence[ModelSpec],
               settings: BenchSettings, log: Callable[[str], None]) -> None:
    """Time the measured reference models again in turns (A, B, A, B ... after each one's
    warm-up, :func:`interleaved_latency`) and store each one's per-round times as
    ``rounds_ms``: the ratios are then taken round by round. Failures are recorded in
    ``interleave_error`` of the first entry; the separate medians stay."""
    ok = [(e, s) for e, s in zip(entries, specs, strict=True)
          if not e.get("error") and e.get("latency_ms")]
    if len(ok) < 2:
        return
    log(f"[bench] interleaved: {len(ok)} models x {settings.runs} rounds")
    models = []
    try:
        models = [build_model(s.config, settings.device) for _, s in ok]
        times = interleaved_latency(models, [tuple(e["shape"]) for e, _ in ok],
                                    settings.runs, warmup=settings.warmup,
                                    fixed_count=settings.fixed_count,
                                    ori_shape=settings.ori_shape, seed=settings.seed)
        for (e, _), ms in zip(ok, times, strict=True):
            e["rounds_ms"] = [round(v, 3) for v in ms]
    except Exception as exc:  # noqa: BLE001 - recorded; the separate medians stay
        ok[0][0]["interleave_error"] = _error(exc)["error"]
        log(f"[bench] interleaved timing failed: {ok[0][0]['interleave_error']}")
    finally:
        del models
        release_memory()


def ratio(num: dict[str, Any], den: dict[str, Any]) -> dict[str, Any] | None:
    """``num``'s latency over ``den``'s: the spread of the per-round ratios when both were
    timed in turns (``interleaved: true``), else the ratio of their medians."""
    if num.get("error") or den.get("error") or not num.get("latency_ms") \
            or not den.get("latency_ms"):
        return None
    if num.get("rounds_ms") and den.get("rounds_ms"):
        return {**round_ratios(num["rounds_ms"], den["rounds_ms"]), "interleaved": True}
    value = round(num["latency_ms"]["median"] / den["latency_ms"]["median"], 4)
    return {"median": value, "interleaved": False}


def ratios(entries: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Latency of every reference entry over the first one's (``'<name>/<first>'``): the
    median of the per-round ratios (see :func:`ratio`; the spread is in ``ratio_spread``).

    Optimised variants carry ``speedup_vs_reference`` instead.
    """
    return {k: v["median"] for k, v in ratio_spread(entries).items()}


def ratio_spread(entries: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """:func:`ratio` of every reference entry over the first one."""
    ok = [e for e in entries if not e.get("error") and e.get("latency_ms")
          and e.get("variant", "reference") == "reference"]
    if not ok:
        return {}
    first = ok[0]
    out = {}
    for e in ok:
        r = ratio(e, first)
        if r is not None:
            out[f"{e['name']}/{first['name']}"] = r
    return out


def run_benchmark(specs: Sequence[ModelSpec], settings: BenchSettings,
                  argv: Sequence[str] | None = None,
                  log: Callable[[str], None] = print) -> dict[str, Any]:
    """Measure every model in ``specs`` in this process; the JSON-ready result.

    Returns:
        dict: ``schema``, ``created`` (UTC ISO time), ``command``, ``hardware``
        (:func:`hardware_info`, taken after ``torch.set_num_threads``), ``settings``,
        ``models`` (entries, see :func:`benchmark_model`; ``rounds_ms`` from
        :func:`interleave`), ``ratios`` (:func:`ratios`), ``ratio_spread``,
        ``load_avg_end`` (load average when the run finished).
    """
    if not specs:
        raise ValueError("run_benchmark: no models given")
    if settings.threads is not None:
        if settings.threads < 1:
            raise ValueError(f"threads must be >= 1, got {settings.threads}")
        torch.set_num_threads(settings.threads)
    if settings.device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda requested but torch.cuda.is_available() is False")
    hardware = hardware_info(settings.device)
    started = _dt.datetime.now(_dt.timezone.utc)
    entries: list[dict[str, Any]] = []
    references: list[dict[str, Any]] = []
    for spec in specs:
        measured = benchmark_model(spec, settings, log)
        references.append(measured[0])
        entries.extend(measured)
    if settings.interleave:
        interleave(references, specs, settings, log)
    import os

    try:
        load_end: list[float] | None = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        load_end = None
    return {
        "schema": SCHEMA,
        "created": started.isoformat(timespec="seconds"),
        "wall_s": round((_dt.datetime.now(_dt.timezone.utc) - started).total_seconds(), 1),
        "command": list(argv) if argv is not None else list(sys.argv),
        "hardware": hardware,
        "settings": {**asdict(settings), "threads": torch.get_num_threads()},
        "models": entries,
        "ratios": ratios(entries),
        "ratio_spread": ratio_spread(entries),
        "load_avg_end": load_end,
    }
