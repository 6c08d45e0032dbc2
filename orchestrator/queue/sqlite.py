"""Persistent :class:`JobQueue` in one SQLite file (the workspace's ``queue.db``).

Safe under concurrent writers on one host: WAL journal, a busy timeout, and every
read-modify-write inside ``BEGIN IMMEDIATE`` (the write lock is taken before the read, so two
claimants serialise instead of both seeing the same ``queued`` row). Each
:class:`SqliteQueue` owns one connection; create one per thread or process.
"""
from __future__ import annotations

import fcntl
import json
import sqlite3
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ._base import JobQueue, JobRecord, JobState, NewJob, owner_alive

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    owner TEXT,
    heartbeat REAL,
    run_id TEXT,
    family TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    error TEXT
);
CREATE TABLE IF NOT EXISTS members (
    study TEXT NOT NULL,
    job_id TEXT NOT NULL REFERENCES jobs(job_id),
    position INTEGER NOT NULL,
    PRIMARY KEY (study, job_id)
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_COLUMNS = ("job_id, spec, state, attempts, max_attempts, owner, heartbeat, run_id, family, "
            "created, started, finished, error")


def _record(row: tuple) -> JobRecord:
    (job_id, spec, state, attempts, max_attempts, owner, heartbeat, run_id, family, created,
     started, finished, error) = row
    return JobRecord(job_id=job_id, spec=json.loads(spec), state=state, attempts=attempts,
                     max_attempts=max_attempts, owner=owner, heartbeat=heartbeat, run_id=run_id,
                     family=family, created=created, started=started, finished=finished,
                     error=error)


class SqliteQueue(JobQueue):
    """Queue in the SQLite file ``path`` (created with its schema if missing).

    Args:
        path: Database file.
        timeout_s: How long a writer waits for the lock before failing.
    """

    def __init__(self, path: str | Path, timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE) where it matters.
        self._db = sqlite3.connect(str(self.path), timeout=timeout_s, isolation_level=None,
                                   check_same_thread=False)
        # Switching a fresh file to WAL needs it exclusively, and SQLite's busy timeout does
        # not cover that: two processes opening a new queue at once serialise on a flock.
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            with self._write() as db:
                for stmt in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
                    db.execute(stmt)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def enqueue(self, study: str, jobs: Sequence[NewJob]) -> list[str]:
        new: list[str] = []
        now = time.time()
        with self._write() as db:
            (pos,) = db.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM members "
                                "WHERE study = ?", (study,)).fetchone()
            for i, job in enumerate(jobs):
                cur = db.execute(
                    "INSERT OR IGNORE INTO jobs (job_id, spec, state, max_attempts, family, "
                    "run_id, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (job.job_id, json.dumps(job.spec, sort_keys=True), job.state,
                     job.max_attempts, job.family, job.run_id, now + i * 1e-6))
                if cur.rowcount:
                    new.append(job.job_id)
                db.execute("INSERT OR IGNORE INTO members (study, job_id, position) "
                           "VALUES (?, ?, ?)", (study, job.job_id, pos + i))
        return new

    def claim(self, owner: str, study: str | None = None,
              job_ids: Collection[str] | None = None) -> JobRecord | None:
        ids = list(job_ids) if job_ids is not None else None
        only = f" AND j.job_id IN ({','.join('?' * len(ids))})" if ids else ""
        with self._write() as db:
            if ids is not None and not ids:
                row = None
            elif study is None:
                row = db.execute(f"SELECT j.job_id FROM jobs j WHERE j.state = ?{only} "
                                 "ORDER BY j.created LIMIT 1",
                                 (JobState.QUEUED, *(ids or []))).fetchone()
            else:
                row = db.execute(
                    "SELECT j.job_id FROM jobs j JOIN members m ON m.job_id = j.job_id "
                    f"WHERE m.study = ? AND j.state = ?{only} ORDER BY m.position LIMIT 1",
                    (study, JobState.QUEUED, *(ids or []))).fetchone()
            if row is None:
                return None
            now = time.time()
            db.execute("UPDATE jobs SET state = ?, owner = ?, heartbeat = ?, started = ?, "
                       "finished = NULL, attempts = attempts + 1 WHERE job_id = ?",
                       (JobState.RUNNING, owner, now, now, row[0]))
            return self._get(row[0])

    def heartbeat(self, job_id: str, owner: str) -> bool:
        cur = self._db.execute("UPDATE jobs SET heartbeat = ? WHERE job_id = ? AND owner = ? "
                               "AND state = ?", (time.time(), job_id, owner, JobState.RUNNING))
        return cur.rowcount == 1

    def finish(self, job_id: str, owner: str, state: str, error: str | None = None,
               retry: bool = False) -> str | None:
        if state not in (JobState.SUCCEEDED, JobState.FAILED):
            raise ValueError(f"finish() takes 'succeeded' or 'failed', not {state!r}")
        with self._write() as db:
            row = db.execute("SELECT attempts, max_attempts FROM jobs WHERE job_id = ? AND "
                             "owner = ? AND state = ?",
                             (job_id, owner, JobState.RUNNING)).fetchone()
            if row is None:
                return None
            if state == JobState.FAILED and retry and row[0] < row[1]:
                state = JobState.QUEUED
            db.execute("UPDATE jobs SET state = ?, owner = NULL, error = ?, finished = ? "
                       "WHERE job_id = ?", (state, error, time.time(), job_id))
            return state

    def release(self, job_id: str, owner: str) -> bool:
        cur = self._db.execute(
            "UPDATE jobs SET state = ?, owner = NULL, attempts = MAX(0, attempts - 1) "
            "WHERE job_id = ? AND owner = ? AND state = ?",
            (JobState.QUEUED, job_id, owner, JobState.RUNNING))
        return cur.rowcount == 1

    def requeue_stale(self, timeout_s: float,
                      alive: Callable[[str], bool | None] = owner_alive) -> list[str]:
        now = time.time()
        out: list[str] = []
        with self._write() as db:
            rows = db.execute("SELECT job_id, owner, heartbeat FROM jobs WHERE state = ?",
                              (JobState.RUNNING,)).fetchall()
            for job_id, owner, beat in rows:
                live = alive(owner) if owner else False
                if live is False or (live is None and now - (beat or 0) > timeout_s):
                    # The owner died, not the job: the attempt is not charged.
                    db.execute("UPDATE jobs SET state = ?, owner = NULL, error = ?, "
                               "attempts = MAX(0, attempts - 1) WHERE job_id = ?",
                               (JobState.QUEUED, f"requeued: its owner {owner} died", job_id))
                    out.append(job_id)
        return out

    def _ids(self, study: str | None) -> list[str]:
        if study is None:
            return [r[0] for r in self._db.execute("SELECT job_id FROM jobs ORDER BY created")]
        return [r[0] for r in self._db.execute(
            "SELECT job_id FROM members WHERE study = ? ORDER BY position", (study,))]

    def cancel(self, study: str | None = None, job_ids: Iterable[str] | None = None
               ) -> list[str]:
        out: list[str] = []
        with self._write() as db:
            ids = list(job_ids) if job_ids is not None else self._ids(study)
            for job_id in ids:
                cur = db.execute("UPDATE jobs SET state = ?, owner = NULL WHERE job_id = ? "
                                 "AND state IN (?, ?)",
                                 (JobState.CANCELLED, job_id, JobState.QUEUED, JobState.RUNNING))
                if cur.rowcount:
                    out.append(job_id)
        return out

    def retry(self, study: str | None = None, states: Iterable[str] = (JobState.FAILED,)
              ) -> list[str]:
        wanted = [s for s in states if s in (JobState.FAILED, JobState.CANCELLED)]
        out: list[str] = []
        with self._write() as db:
            for job_id in self._ids(study):
                cur = db.execute(
                    "UPDATE jobs SET state = ?, attempts = 0, error = NULL WHERE job_id = ? "
                    f"AND state IN ({','.join('?' * len(wanted)) or 'NULL'})",
                    (JobState.QUEUED, job_id, *wanted))
                if cur.rowcount:
                    out.append(job_id)
        return out

    def detach(self, study: str, keep: Collection[str]) -> list[str]:
        keep = set(keep)
        with self._write() as db:
            gone = [j for j in self._ids(study) if j not in keep]
            db.executemany("DELETE FROM members WHERE study = ? AND job_id = ?",
                           [(study, j) for j in gone])
        return gone

    def set_run_id(self, job_id: str, run_id: str) -> None:
        self._db.execute("UPDATE jobs SET run_id = ? WHERE job_id = ?", (run_id, job_id))

    def _get(self, job_id: str) -> JobRecord | None:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE job_id = ?",
                               (job_id,)).fetchone()
        return _record(row) if row else None

    def get(self, job_id: str) -> JobRecord | None:
        return self._get(job_id)

    def jobs(self, study: str | None = None, states: Iterable[str] | None = None
             ) -> list[JobRecord]:
        if study is None:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM jobs ORDER BY created").fetchall()
        else:
            cols = ", ".join(f"j.{c.strip()}" for c in _COLUMNS.split(","))
            rows = self._db.execute(
                f"SELECT {cols} FROM jobs j JOIN members m ON m.job_id = j.job_id "
                "WHERE m.study = ? ORDER BY m.position", (study,)).fetchall()
        wanted = set(states) if states is not None else None
        return [r for r in map(_record, rows) if wanted is None or r.state in wanted]

    def studies(self) -> list[str]:
        return [r[0] for r in self._db.execute(
            "SELECT study FROM members GROUP BY study ORDER BY MIN(rowid)")]

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        self._db.close()
