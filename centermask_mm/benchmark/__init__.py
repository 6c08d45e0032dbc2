"""Benchmark harness: latency (with a stage breakdown), training throughput and memory.

Public API (see ``docs/benchmarks.md``):

- :func:`measure_latency` (model or config -> latency dict), :func:`log_to_mlflow`
  (``time_ms`` + ``cm.time_hardware``): what the orchestrator's job worker calls;
- :func:`measure_training`, :func:`run_benchmark` (several configs in one process);
- the ``bench`` command (:mod:`.cli`): ``python -m centermask_mm.benchmark CONFIG...``.
"""
from .bench import BenchSettings, ModelSpec, run_benchmark
from .hardware import hardware_info, time_hardware
from .models import build_model, fixed_detections
from .report import format_report, log_to_mlflow, write_json
from .runner import measure_latency, measure_training
from .stages import StageTimer

__all__ = [
    "BenchSettings", "ModelSpec", "StageTimer", "build_model", "fixed_detections",
    "format_report", "hardware_info", "log_to_mlflow", "measure_latency", "measure_training",
    "run_benchmark", "time_hardware", "write_json",
]
