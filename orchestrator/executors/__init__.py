"""Executors run job processes: locally (``local``) or as Ray tasks (``ray``).

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
}


def make_executor(name: str, **kwargs: Any) -> Executor:
    """Instantiate the executor registered as ``name`` with ``kwargs``."""
    if name not in EXECUTORS:
        raise ValueError(f"unknown executor {name!r}; known: {sorted(EXECUTORS)}")
    module, cls = EXECUTORS[name].split(":")
    return getattr(importlib.import_module(module), cls)(**kwargs)


__all__ = ["Executor", "Launch", "Outcome", "EXECUTORS", "make_executor"]
