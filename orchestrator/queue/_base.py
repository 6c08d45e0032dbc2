"""The job queue interface and its contract.

A queue holds *jobs* keyed by their identity hash (``job_id``) and the *studies* that
reference them (a job shared by two studies is one row with two memberships).

Contract (every backend; ``tests/test_orchestrator/test_queue_contract.py`` checks it):

States: ``queued -> running -> succeeded | failed | queued (retry)``; ``queued | running ->
cancelled``; ``failed | cancelled -> queued`` only through :meth:`JobQueue.retry`.
``succeeded`` is final.

* **Idempotent enqueue.** :meth:`enqueue` inserts unknown jobs as ``queued`` and adds study
  memberships; a job that is already known keeps its state, attempts and run id.
* **Exclusive claims.** :meth:`claim` moves exactly one ``queued`` job to ``running`` under an
  owner, atomically: two claimants (threads, processes, hosts sharing the store) never get the
  same job, so no job runs twice at once. A claim increments ``attempts`` and sets the
  heartbeat to now.
* **Ownership.** Only the owner of a ``running`` job may heartbeat or finish it; calls from
  anyone else (or on a job no longer ``running``, e.g. cancelled) change nothing and return
  ``False``. An owner whose heartbeat returns ``False`` has lost the job and must stop it.
* **Bounded retries.** ``finish(..., "failed", retry=True)`` requeues the job while
  ``attempts < max_attempts``, otherwise the job becomes ``failed``. Only failures of the job
  itself count: :meth:`requeue_stale` puts running jobs whose owner is dead (or whose
  heartbeat is older than the timeout) back to ``queued`` *without* charging the attempt,
  as :meth:`release` does (a killed orchestrator must not use up its jobs' attempts).
* **Run ids survive retries.** The MLflow run id attached with :meth:`set_run_id` stays with the
  job through requeues, so a retried job logs into the same run.
* Returned records are snapshots; mutating them does not change the queue.
"""
from __future__ import annotations

import abc
import os
import socket
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final


class JobState:
    """The job states, one namespace (``JobState.QUEUED``...).

    Plain strings, not an ``Enum``: they are stored in the queue, written to MLflow tags and
    printed as they are, and a record read back from SQLite compares equal to them.
    """

    QUEUED: Final = "queued"
    RUNNING: Final = "running"
    SUCCEEDED: Final = "succeeded"
    FAILED: Final = "failed"
    CANCELLED: Final = "cancelled"
    #: Every state, in the order :meth:`JobQueue.counts` reports them.
    ALL: Final[tuple[str, ...]] = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
    #: States a job leaves only through :meth:`JobQueue.retry` (``succeeded``: never).
    TERMINAL: Final[frozenset[str]] = frozenset({SUCCEEDED, FAILED, CANCELLED})


@dataclass
class JobRecord:
    """One job as the queue stores it.

    Attributes:
        job_id: Identity hash of the job (see ``orchestrator.study.identity``).
        spec: JSON-serialisable description the executor needs (work dir, levels, seed...).
        state: One of :attr:`JobState.ALL`.
        attempts: Claims so far (each start of the job is one attempt).
        max_attempts: Attempts allowed before the job stays ``failed``.
        owner: Lease owner while ``running`` (``host:pid:start``), else ``None``.
        heartbeat: Unix time of the owner's last heartbeat.
        run_id: MLflow run id of the job, once created.
        family: Config family, for time estimates.
        created, started, finished: Unix times (``started``/``finished`` of the last attempt).
        error: Short description of the last failure.
    """

    job_id: str
    spec: dict[str, Any]
    state: str = JobState.QUEUED
    attempts: int = 0
    max_attempts: int = 3
    owner: str | None = None
    heartbeat: float | None = None
    run_id: str | None = None
    family: str = ""
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    error: str | None = None

    @property
    def duration(self) -> float | None:
        """Seconds of the last attempt, when it has finished."""
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started


@dataclass(frozen=True)
class NewJob:
    """What :meth:`JobQueue.enqueue` needs to create a job."""

    job_id: str
    spec: dict[str, Any]
    max_attempts: int = 3
    family: str = ""
    state: str = JobState.QUEUED  # SUCCEEDED: a cache hit found elsewhere (e.g. in MLflow)
    run_id: str | None = None


def default_owner() -> str:
    """``host:pid:start_time`` of this process: unique, and checkable for liveness."""
    start = _process_start(os.getpid())
    return f"{socket.gethostname()}:{os.getpid()}:{start}"


def _process_start(pid: int) -> str:
    try:
        import psutil

        return f"{psutil.Process(pid).create_time():.2f}"
    except Exception:  # noqa: BLE001 - psutil missing or process gone: no liveness check
        return "?"


def owner_alive(owner: str) -> bool | None:
    """Whether an owner process is alive: ``True``/``False`` on this host, ``None`` elsewhere."""
    try:
        host, pid_s, start = owner.rsplit(":", 2)
        pid = int(pid_s)
    except ValueError:
        return None
    if host != socket.gethostname():
        return None
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a dependency
        return None
    if not psutil.pid_exists(pid):
        return False
    return start == "?" or _process_start(pid) == start


class JobQueue(abc.ABC):
    """Persistent job queue (see the module docstring for the contract)."""

    @abc.abstractmethod
    def enqueue(self, study: str, jobs: Sequence[NewJob]) -> list[str]:
        """Add ``jobs`` to the queue as members of ``study``.

        Returns:
            Ids of the jobs that were new (inserted as ``queued``); known jobs are untouched.
        """

    @abc.abstractmethod
    def claim(self, owner: str, study: str | None = None,
              job_ids: Collection[str] | None = None) -> JobRecord | None:
        """Atomically take one ``queued`` job, oldest first.

        Args:
            owner: Lease owner (see :func:`default_owner`).
            study: Only jobs of this study (in the study's order).
            job_ids: Only these jobs (e.g. those of the current plan of the study).

        Returns:
            The job, now ``running`` under ``owner``, or ``None`` when nothing is queued.
        """

    @abc.abstractmethod
    def heartbeat(self, job_id: str, owner: str) -> bool:
        """Refresh the lease; ``False`` if ``owner`` no longer holds the job."""

    @abc.abstractmethod
    def finish(self, job_id: str, owner: str, state: str, error: str | None = None,
               retry: bool = False) -> str | None:
        """End the owner's attempt with ``succeeded`` or ``failed``.

        Args:
            retry: For ``failed``: requeue while attempts remain.

        Returns:
            The job's new state, or ``None`` if ``owner`` did not hold the job.
        """

    @abc.abstractmethod
    def release(self, job_id: str, owner: str) -> bool:
        """Give a running job back to ``queued`` without counting the attempt."""

    @abc.abstractmethod
    def requeue_stale(self, timeout_s: float,
                      alive: Callable[[str], bool | None] = owner_alive) -> list[str]:
        """Requeue running jobs whose owner is gone, without charging their attempt.

        A job is stale when ``alive(owner)`` is ``False`` or, when liveness is unknown
        (``None``), its heartbeat is older than ``timeout_s``.

        Returns:
            Ids of the jobs that were taken away from their owner.
        """

    @abc.abstractmethod
    def cancel(self, study: str | None = None, job_ids: Iterable[str] | None = None
               ) -> list[str]:
        """Cancel queued and running jobs of ``study`` (or the given ids); returns their ids."""

    @abc.abstractmethod
    def retry(self, study: str | None = None, states: Iterable[str] = (JobState.FAILED,)
              ) -> list[str]:
        """Requeue jobs in ``states`` with a fresh attempt budget; returns their ids."""

    @abc.abstractmethod
    def detach(self, study: str, keep: Collection[str]) -> list[str]:
        """Drop ``study``'s membership of every job not in ``keep``; returns their ids.

        The jobs themselves stay (other studies may share them; finished ones are cache).
        Used when the study file changed and its plan no longer has those jobs.
        """

    @abc.abstractmethod
    def set_run_id(self, job_id: str, run_id: str) -> None:
        """Attach the MLflow run id (kept across retries)."""

    @abc.abstractmethod
    def get(self, job_id: str) -> JobRecord | None:
        """The job, or ``None``."""

    @abc.abstractmethod
    def jobs(self, study: str | None = None, states: Iterable[str] | None = None
             ) -> list[JobRecord]:
        """Jobs (of ``study``, in ``states``), in enqueue order within the study."""

    @abc.abstractmethod
    def studies(self) -> list[str]:
        """Names of the studies with at least one job."""

    @abc.abstractmethod
    def set_meta(self, key: str, value: str) -> None:
        """Store a small string (e.g. a study's parent MLflow run id)."""

    @abc.abstractmethod
    def get_meta(self, key: str) -> str | None:
        """Read back :meth:`set_meta`."""

    def counts(self, study: str | None = None) -> dict[str, int]:
        """Number of jobs per state (every state present, zeros included)."""
        out = dict.fromkeys(JobState.ALL, 0)
        for job in self.jobs(study):
            out[job.state] += 1
        return out

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (connections)."""
