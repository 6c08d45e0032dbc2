"""Executors run job processes: locally (``local``), as Ray tasks (``ray``) or as Slurm
jobs (``slurm``, detached: they outlive the orchestrator).

A new executor is one module with an :class:`Executor` subclass plus one entry in
:data:`EXECUTORS`; the contract suite in ``tests/test_orchestrator`` then runs against it.
Backends are imported lazily so ``orchestrator --help`` never imports Ray.
"""
from __future__ import annotations

import importlib
from typing import Any

from ._base import Executor, Launch, Outcome

#: name -> "module:Class"
EXECUTORS: dict[str, str] = {
    "local": "orchestrator.executors.local:LocalExecutor",
    "ray": "orchestrator.executors.ray:RayExecutor",
    "slurm": "orchestrator.executors.slurm:SlurmExecutor",
}


def executor_class(name: str) -> type[Executor]:
    """The class registered as ``name`` (imports its module, not its backend)."""
    if name not in EXECUTORS:
        raise ValueError(f"unknown executor {name!r}; known: {sorted(EXECUTORS)}")
    module, cls = EXECUTORS[name].split(":")
    return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]


def make_executor(name: str, **kwargs: Any) -> Executor:
    """Instantiate the executor registered as ``name`` with ``kwargs``."""
    return executor_class(name)(**kwargs)


def cancel_handle(handle: str) -> None:
    """Stop a detached job by the handle the queue stored (``"slurm:1234"``), with no
    executor open (``orchestrator cancel`` while no orchestrator runs the study)."""
    if handle.startswith("slurm:"):
        from .slurm import scancel

        scancel(handle)


def describe_handles(handles: dict[str, str]) -> dict[str, str]:
    """``job_id -> backend state and node`` of detached jobs (``orchestrator status``)."""
    if any(h.startswith("slurm:") for h in handles.values()):
        from .slurm import describe_handles as slurm_describe

        return slurm_describe(handles)
    return {}


def handle_key(job_id: str) -> str:
    """Queue meta key under which the scheduler stores a job's handle (``Executor.handle``)."""
    return f"handle:{job_id}"


__all__ = ["Executor", "Launch", "Outcome", "EXECUTORS", "cancel_handle", "describe_handles",
           "executor_class", "handle_key", "make_executor"]
