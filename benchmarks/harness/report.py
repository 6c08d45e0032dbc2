"""Benchmark results as tables (Markdown pipe tables), JSON files and MLflow records."""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .stages import STAGES

#: Stage columns in execution order, then ``other``.
STAGE_ORDER: tuple[str, ...] = tuple(s[0] for s in STAGES) + ("other",)


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.{digits}f}"
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), sep, *(line(r) for r in rows)])


def latency_table(result: dict[str, Any]) -> str:
    """Median / p90 latency, ratio to the first model, detections, params, memory."""
    entries = result["models"]
    ok = [e for e in entries if not e.get("error") and e.get("latency_ms")]
    base = ok[0]["latency_ms"]["median"] if ok else None
    spread = result.get("ratio_spread") or {}
    rows = []
    for e in entries:
        if e.get("error") and not e.get("latency_ms"):
            rows.append([e["name"], "x".join(map(str, e.get("shape", []))), "FAILED", "", "",
                         "", "", "", e["error"][:80]])
            continue
        lat = e["latency_ms"]
        dets = e.get("detections") or {}
        det = (str(dets.get("min")) if dets.get("min") == dets.get("max")
               else f"{dets.get('min')}-{dets.get('max')}")
        mem = e.get("memory") or {}
        peak = mem.get("peak_cuda_mb") if mem.get("peak_cuda_mb") is not None \
            else mem.get("peak_rss_mb")
        note = ""
        if e.get("speedup_vs_reference") is not None:
            diff = e.get("output_diff") or {}
            if diff.get("identical"):
                same = "outputs identical"
            elif "min_matched_iou" in diff:
                same = (f"box IoU >= {diff['min_matched_iou']:.4f}, "
                        f"{100 * diff.get('mask_pixels_differ', 0.0):.3f}% mask px differ")
            else:
                same = "outputs differ"
            note = f"x{e['speedup_vs_reference']:.2f} vs reference, {same}"
        r = spread.get(f"{e['name']}/{ok[0]['name']}") if ok else None
        if r and r.get("interleaved"):  # median of the per-round ratios (min-max)
            x_first = f"{_fmt(r['median'], 3)} ({_fmt(r['min'], 3)}-{_fmt(r['max'], 3)})"
        else:
            x_first = _fmt(lat["median"] / base, 3) if base else "-"
        rows.append([e["name"], "x".join(map(str, e["shape"])), _fmt(lat["median"]),
                     _fmt(lat["p90"]), x_first, det,
                     _fmt(e.get("params_m"), 1), _fmt(peak, 0), note])
    header = ["model", "input", "ms median", "ms p90", "x first", "dets", "params (M)",
              "peak MB", "note"]
    return _table(header, rows)


def stage_table(result: dict[str, Any]) -> str:
    """Median exclusive ms per stage (columns: stages any model has), plus the staged total."""
    entries = [e for e in result["models"] if e.get("stages_ms")]
    if not entries:
        return "(no stage breakdown)"
    present = [s for s in STAGE_ORDER if any(s in e["stages_ms"] for e in entries)]
    rows = []
    for e in entries:
        total = (e.get("staged_total_ms") or {}).get("median")
        rows.append([e["name"], *(_fmt(e["stages_ms"].get(s)) for s in present),
                     _fmt(sum(e["stages_ms"].values())), _fmt(total),
                     _fmt(e["latency_ms"]["median"])])
    # Medians of stages need not add up to the median total; on a quiet machine all three
    # right-hand columns agree.
    return _table(["model", *present, "sum", "staged total", "end-to-end"], rows)


def macs_table(result: dict[str, Any]) -> str:
    """Conv / linear GMACs per stage: the machine-independent side of the breakdown."""
    entries = [e for e in result["models"] if e.get("stage_gmacs")
               and e.get("variant", "reference") == "reference"]
    if not entries:
        return "(no MAC count)"
    present = [s for s in STAGE_ORDER if any(s in e["stage_gmacs"] for e in entries)]
    rows = [[e["name"], *(_fmt(e["stage_gmacs"].get(s), 2) for s in present),
             _fmt(e.get("gmacs"), 2)] for e in entries]
    return _table(["model", *present, "total"], rows)


def train_table(result: dict[str, Any]) -> str:
    """Training-step throughput and peak memory of the models that were trained."""
    rows = []
    for e in result["models"]:
        tr = e.get("train")
        if not tr:
            continue
        if tr.get("error"):
            rows.append([e["name"], "FAILED", "", "", "", tr["error"][:80]])
            continue
        mem = tr.get("memory") or {}
        rows.append([e["name"], f"{tr['batch_size']} x {'x'.join(map(str, tr['shape']))}",
                     _fmt(tr["step_ms"]["median"]), _fmt(tr["images_per_s"], 2),
                     _fmt(mem.get("peak_rss_mb"), 0), _fmt(mem.get("peak_cuda_mb"), 0)])
    if not rows:
        return "(no training measurement)"
    return _table(["model", "batch", "step ms", "img/s", "peak RSS MB", "peak CUDA MB"], rows)


def format_report(result: dict[str, Any]) -> str:
    """The full text report: hardware line, latency, stages, training, ratios."""
    hw = result.get("hardware", {})
    s = result.get("settings", {})
    head = (f"hardware: {hw.get('summary')}  (load avg start {hw.get('load_avg')}, "
            f"end {result.get('load_avg_end')})\n"
            f"settings: {s.get('warmup')} warm-up + {s.get('runs')} runs, batch 1, "
            f"fixed detection count {'on' if s.get('fixed_count') else 'off'}"
            + ("; 'x first' = median (min-max) of the per-round ratios, the models timed in "
               "turns" if result.get("ratio_spread") and any(
                   r.get("interleaved") for r in result["ratio_spread"].values()) else ""))
    parts = [head, "", "Latency (ms per image)", latency_table(result), "",
             "Stage breakdown (median exclusive ms; 'other' = outside every stage)",
             stage_table(result), "",
             "Compute (GMACs of conv / deconv / linear layers per stage)", macs_table(result)]
    train = train_table(result)
    if not train.startswith("(no"):
        parts += ["", "Training", train]
    return "\n".join(parts)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, str | int | float | bool) or obj is None:
        return obj
    return str(obj)


def write_json(result: dict[str, Any], path: str | Path) -> Path:
    """Write ``result`` as indented JSON (non-finite floats become null); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_jsonable(result), indent=2) + "\n")
    return path


def log_to_mlflow(result: dict[str, Any], run_id: str, client: Any,
                  hardware: str | None = None, artifact: str | None = "benchmark.json"
                  ) -> dict[str, float]:
    """Log a latency measurement to an MLflow run (contracts §1).

    Sets metric ``time_ms`` (median end-to-end latency) and tag ``cm.time_hardware``; adds
    ``bench/time_ms_p90``, ``bench/stage/<stage>_ms``, ``bench/peak_rss_mb`` (and
    ``bench/peak_cuda_mb``, ``bench/train_images_per_s`` when measured), tags
    ``cm.time_shape`` (``HxW``) and ``cm.time_detections``, and the whole record as an
    artifact.

    Args:
        result (dict): A :func:`~benchmarks.harness.runner.measure_latency` result or
            one model entry of a ``bench`` run (the first error-free model of a whole run
            result is used).
        run_id (str): MLflow run to log into.
        client: ``mlflow.MlflowClient`` (or anything with ``log_metric``, ``set_tag``).
        hardware (str, optional): Device line for ``cm.time_hardware``; defaults to the
            result's ``hardware.summary`` or, failing that, the current machine's.
        artifact (str, optional): Artifact file name for the JSON record; None skips it.

    Returns:
        dict[str, float]: The metrics that were logged.

    Raises:
        ValueError: ``result`` holds no successful latency measurement.
    """
    entry = result
    if "models" in result:
        ok = [e for e in result["models"] if not e.get("error") and e.get("latency_ms")]
        if not ok:
            raise ValueError("log_to_mlflow: the benchmark result has no successful model")
        entry = ok[0]
    lat = entry.get("latency_ms")
    if not lat:
        raise ValueError("log_to_mlflow: no 'latency_ms' in the result")
    if hardware is None:
        hardware = (result.get("hardware") or entry.get("hardware") or {}).get("summary")
    if hardware is None:
        from .hardware import hardware_info

        hardware = hardware_info(str(entry.get("device", "cpu")))["summary"]
    metrics: dict[str, float] = {"time_ms": float(lat["median"]),
                                 "bench/time_ms_p90": float(lat["p90"])}
    for stage, ms in (entry.get("stages_ms") or {}).items():
        metrics[f"bench/stage/{stage}_ms"] = float(ms)
    mem = entry.get("memory") or {}
    if mem.get("peak_rss_mb") is not None:
        metrics["bench/peak_rss_mb"] = float(mem["peak_rss_mb"])
    if mem.get("peak_cuda_mb") is not None:
        metrics["bench/peak_cuda_mb"] = float(mem["peak_cuda_mb"])
    train = entry.get("train") or {}
    if train.get("images_per_s") is not None:
        metrics["bench/train_images_per_s"] = float(train["images_per_s"])
    for key, value in metrics.items():
        client.log_metric(run_id, key, value)
    client.set_tag(run_id, "cm.time_hardware", hardware)
    if entry.get("shape"):
        client.set_tag(run_id, "cm.time_shape", "x".join(str(v) for v in entry["shape"]))
    dets = entry.get("detections") or {}
    if dets:
        client.set_tag(run_id, "cm.time_detections", str(dets.get("max")))
    if artifact and hasattr(client, "log_dict"):
        client.log_dict(run_id, _jsonable({k: v for k, v in result.items()
                                           if k != "predictions"}), artifact)
    return metrics
