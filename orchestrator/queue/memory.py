"""In-memory :class:`JobQueue` for tests and single-process dry runs (not persistent)."""
from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager

from ._base import JobQueue, JobRecord, JobState, NewJob, owner_alive


class MemoryQueue(JobQueue):
    """Thread-safe queue held in a dict; every method takes one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, JobRecord] = {}
        self._members: dict[str, list[str]] = {}
        self._meta: dict[str, str] = {}

    def enqueue(self, study: str, jobs: Sequence[NewJob]) -> list[str]:
        new: list[str] = []
        with self._lock:
            members = self._members.setdefault(study, [])
            for job in jobs:
                if job.job_id not in self._jobs:
                    self._jobs[job.job_id] = JobRecord(
                        job_id=job.job_id, spec=copy.deepcopy(job.spec),
                        max_attempts=job.max_attempts, family=job.family, state=job.state,
                        run_id=job.run_id)
                    new.append(job.job_id)
                if job.job_id not in members:
                    members.append(job.job_id)
        return new

    def _order(self, study: str | None) -> list[str]:
        if study is not None:
            return list(self._members.get(study, []))
        return sorted(self._jobs, key=lambda j: self._jobs[j].created)

    def claim(self, owner: str, study: str | None = None,
              job_ids: Collection[str] | None = None) -> JobRecord | None:
        allowed = set(job_ids) if job_ids is not None else None
        with self._lock:
            for job_id in self._order(study):
                job = self._jobs[job_id]
                if job.state == JobState.QUEUED and (allowed is None or job_id in allowed):
                    now = time.time()
                    job.state, job.owner, job.heartbeat = JobState.RUNNING, owner, now
                    job.attempts += 1
                    job.started, job.finished = now, None
                    return copy.deepcopy(job)
        return None

    @contextmanager
    def _owned(self, job_id: str, owner: str) -> Iterator[JobRecord | None]:
        """Under the lock: the job if ``owner`` holds it ``running``, else ``None``."""
        with self._lock:
            job = self._jobs.get(job_id)
            owned = job is not None and job.state == JobState.RUNNING and job.owner == owner
            yield job if owned else None

    def heartbeat(self, job_id: str, owner: str) -> bool:
        with self._owned(job_id, owner) as job:
            if job is not None:
                job.heartbeat = time.time()
            return job is not None

    def finish(self, job_id: str, owner: str, state: str, error: str | None = None,
               retry: bool = False) -> str | None:
        if state not in (JobState.SUCCEEDED, JobState.FAILED):
            raise ValueError(f"finish() takes 'succeeded' or 'failed', not {state!r}")
        with self._owned(job_id, owner) as job:
            if job is None:
                return None
            if state == JobState.FAILED and retry and job.attempts < job.max_attempts:
                state = JobState.QUEUED
            job.state, job.owner, job.error = state, None, error
            job.finished = time.time()
            return state

    def release(self, job_id: str, owner: str) -> bool:
        with self._owned(job_id, owner) as job:
            if job is not None:
                job.state, job.owner = JobState.QUEUED, None
                job.attempts = max(0, job.attempts - 1)
            return job is not None

    def requeue_stale(self, timeout_s: float,
                      alive: Callable[[str], bool | None] = owner_alive) -> list[str]:
        now = time.time()
        out: list[str] = []
        with self._lock:
            for job in self._jobs.values():
                if job.state != JobState.RUNNING or job.owner is None:
                    continue
                live = alive(job.owner)
                if live is False or (live is None and now - (job.heartbeat or 0) > timeout_s):
                    # The owner died, not the job: the attempt is not charged.
                    job.state, job.attempts = JobState.QUEUED, max(0, job.attempts - 1)
                    job.owner, job.error = None, f"requeued: its owner {job.owner} died"
                    out.append(job.job_id)
        return out

    def cancel(self, study: str | None = None, job_ids: Iterable[str] | None = None
               ) -> list[str]:
        with self._lock:
            ids = list(job_ids) if job_ids is not None else self._order(study)
            out = []
            for job_id in ids:
                job = self._jobs.get(job_id)
                if job is not None and job.state in (JobState.QUEUED, JobState.RUNNING):
                    job.state, job.owner = JobState.CANCELLED, None
                    out.append(job_id)
            return out

    def retry(self, study: str | None = None, states: Iterable[str] = (JobState.FAILED,)
              ) -> list[str]:
        wanted = {s for s in states if s in (JobState.FAILED, JobState.CANCELLED)}
        with self._lock:
            out = []
            for job_id in self._order(study):
                job = self._jobs[job_id]
                if job.state in wanted:
                    job.state, job.attempts, job.error = JobState.QUEUED, 0, None
                    out.append(job_id)
            return out

    def detach(self, study: str, keep: Collection[str]) -> list[str]:
        keep = set(keep)
        with self._lock:
            members = self._members.get(study, [])
            gone = [j for j in members if j not in keep]
            self._members[study] = [j for j in members if j in keep]
            return gone

    def set_run_id(self, job_id: str, run_id: str) -> None:
        with self._lock:
            self._jobs[job_id].run_id = run_id

    def get(self, job_id: str) -> JobRecord | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return copy.deepcopy(job) if job is not None else None

    def jobs(self, study: str | None = None, states: Iterable[str] | None = None
             ) -> list[JobRecord]:
        wanted = set(states) if states is not None else None
        with self._lock:
            return [copy.deepcopy(self._jobs[j]) for j in self._order(study)
                    if wanted is None or self._jobs[j].state in wanted]

    def studies(self) -> list[str]:
        with self._lock:
            return [s for s, m in self._members.items() if m]

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._meta[key] = value

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            return self._meta.get(key)
