"""Ablation studies as files: study -> plan -> queue -> executor -> MLflow.

Layers, each behind one small interface (``docs/orchestrator.md``):

* :mod:`orchestrator.study` -- YAML study file -> validated :class:`Study` (file/line/key
  errors) -> combinations of axis levels;
* :mod:`orchestrator.plan` -- resolved configs, identity hashes, build checks -> :class:`Plan`;
* :mod:`orchestrator.queue` -- :class:`JobQueue` ABC (SQLite, in-memory), leases, retries;
* :mod:`orchestrator.executors` -- :class:`Executor` ABC (local processes, Ray tasks);
* :mod:`orchestrator.scheduler` -- the resumable run loop;
* :mod:`orchestrator.tracking` -- the MLflow layout of ``docs/contracts.md`` §1;
* :mod:`orchestrator.worker` -- the job process (mmengine Runner train + test).

Names are imported lazily: ``import orchestrator`` stays cheap for job processes.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Study": "orchestrator.study", "load_study": "orchestrator.study",
    "parse_study": "orchestrator.study", "combinations": "orchestrator.study",
    "StudyError": "orchestrator.errors", "Problem": "orchestrator.errors",
    "Plan": "orchestrator.plan", "PlannedJob": "orchestrator.plan",
    "plan_study": "orchestrator.plan", "expected_job_hashes": "orchestrator.plan",
    "JobQueue": "orchestrator.queue", "open_queue": "orchestrator.queue",
    "Executor": "orchestrator.executors", "make_executor": "orchestrator.executors",
    "Scheduler": "orchestrator.scheduler", "Tracker": "orchestrator.tracking",
    "Workspace": "orchestrator.workspace",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")
