"""Ablation studies as files: study -> plan -> queue -> executor -> job -> MLflow -> tables.

Sub-packages by role, in the order data flows through them (``docs/architecture.md``):

* :mod:`orchestrator.study` -- the study file read and validated (file/line/key errors),
  expanded into combinations, configs patched and bound to a data set, job identity,
  and the :class:`Plan`;
* :mod:`orchestrator.queue` -- :class:`JobQueue` ABC (SQLite, in-memory), leases, retries;
* :mod:`orchestrator.executors` -- :class:`Executor` ABC (local processes, Ray tasks);
* :mod:`orchestrator.run` -- the resumable run loop (:class:`Scheduler`), MLflow
  tracking (:class:`Tracker`), and the commands' actions;
* :mod:`orchestrator.job` -- the job process and its runners (mmengine training);
* :mod:`orchestrator.search` -- Optuna searches whose trials are jobs (driver and job side);
* :mod:`orchestrator.testing` -- fake job runners and study builders for tests;
* :mod:`orchestrator.cli` -- the command table; :mod:`orchestrator.workspace` -- where
  things live.

Names are imported lazily: ``import orchestrator`` stays cheap for job processes.
:func:`describe_study` is what ``analysis`` calls (its one entry into the orchestrator): a
:class:`StudyView` with the study's name, axes, profiles and ``table`` section, the current
job ids of each table row (staleness) and, for an evaluation profile, the published
reference numbers.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Study": "orchestrator.study.reader", "load_study": "orchestrator.study.reader",
    "parse_study": "orchestrator.study.reader", "combinations": "orchestrator.study.reader",
    "StudyError": "orchestrator.study.errors", "Problem": "orchestrator.study.errors",
    "Plan": "orchestrator.study.plan", "PlannedJob": "orchestrator.study.plan",
    "plan_study": "orchestrator.study.plan",
    "describe_study": "orchestrator.study.view", "StudyView": "orchestrator.study.view",
    "JobQueue": "orchestrator.queue", "open_queue": "orchestrator.queue",
    "Executor": "orchestrator.executors", "make_executor": "orchestrator.executors",
    "Scheduler": "orchestrator.run.scheduler", "Tracker": "orchestrator.run.tracking",
    "Workspace": "orchestrator.workspace",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")
