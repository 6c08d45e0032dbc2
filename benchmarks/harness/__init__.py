"""Benchmark harness: latency (with a stage breakdown), training throughput and memory.

Public API (see ``docs/benchmarks.md``):

- :func:`measure_latency` (model or config -> latency dict), :func:`log_to_mlflow`
  (``time_ms`` + ``cm.time_hardware``): what the orchestrator's job worker calls;
- :func:`measure_training`, :func:`run_benchmark` (several configs in one process);
- the ``bench`` command (:mod:`.cli`): ``python -m benchmarks.harness CONFIG...``.

Names load lazily: the command line's parser (:mod:`.cli`) imports no torch.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BenchSettings": "bench", "ModelSpec": "bench", "run_benchmark": "bench",
    "hardware_info": "hardware", "time_hardware": "hardware",
    "build_model": "models", "fixed_detections": "models",
    "format_report": "report", "log_to_mlflow": "report", "write_json": "report",
    "measure_latency": "runner", "measure_training": "runner", "StageTimer": "stages",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
