"""Job queues: one ABC with its contract, and backends chosen by URL.

``open_queue("sqlite:///path/queue.db")`` (or a plain path) gives the persistent SQLite
queue; ``open_queue("memory://")`` an in-memory one. A new backend is one module with a
:class:`JobQueue` subclass plus one entry in :data:`BACKENDS`.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ._base import JobQueue, JobRecord, JobState, NewJob, default_owner, owner_alive
from .memory import MemoryQueue
from .sqlite import SqliteQueue

#: URL scheme -> factory taking the rest of the URL.
BACKENDS: dict[str, Callable[[str], JobQueue]] = {
    "sqlite": lambda rest: SqliteQueue(rest),
    "memory": lambda rest: MemoryQueue(),
}


def open_queue(url: str | Path) -> JobQueue:
    """Open the queue at ``url`` (``sqlite:///abs/path``, ``memory://`` or a file path)."""
    text = str(url)
    scheme, sep, rest = text.partition("://")
    if not sep:
        return SqliteQueue(text)
    if scheme not in BACKENDS:
        raise ValueError(f"unknown queue URL scheme {scheme!r} in {text!r}; "
                         f"known: {sorted(BACKENDS)}")
    # sqlite:///abs/path -> /abs/path (SQLAlchemy-style: three slashes then the path).
    return BACKENDS[scheme](rest[1:] if scheme == "sqlite" and rest.startswith("/") else rest)


__all__ = ["JobQueue", "JobRecord", "JobState", "NewJob", "MemoryQueue", "SqliteQueue",
           "open_queue", "BACKENDS", "default_owner", "owner_alive"]
