"""One contract suite for every JobQueue backend (see orchestrator/queue/_base.py)."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from orchestrator.queue import JobQueue, JobState, MemoryQueue, NewJob, SqliteQueue, open_queue

BACKENDS = ["memory", "sqlite"]


@pytest.fixture(params=BACKENDS)
def make_queue(request, tmp_path):
    """Factory: each call gives a new handle on the *same* store (new connection for SQLite)."""
    if request.param == "memory":
        shared = MemoryQueue()
        yield lambda: shared
    else:
        handles: list[JobQueue] = []

        def make() -> JobQueue:
            handles.append(SqliteQueue(tmp_path / "queue.db"))
            return handles[-1]

        yield make
        for h in handles:
            h.close()


@pytest.fixture
def queue(make_queue) -> Iterator[JobQueue]:
    yield make_queue()


@pytest.fixture
def claimed(queue) -> JobQueue:
    """The queue with one job, ``j0`` of study ``s``, running under owner ``me``."""
    queue.enqueue("s", jobs(1))
    queue.claim("me", "s")
    return queue


def jobs(n: int, prefix: str = "j", max_attempts: int = 3) -> list[NewJob]:
    return [NewJob(f"{prefix}{i}", {"i": i}, max_attempts=max_attempts) for i in range(n)]


def test_enqueue_is_idempotent_and_keeps_state(queue):
    assert queue.enqueue("s", jobs(3)) == ["j0", "j1", "j2"]
    job = queue.claim("me", "s")
    assert job is not None and job.job_id == "j0" and job.attempts == 1
    assert job.state == JobState.RUNNING
    queue.finish("j0", "me", JobState.SUCCEEDED)
    assert queue.enqueue("s", jobs(4)) == ["j3"]
    assert queue.get("j0").state == JobState.SUCCEEDED
    assert [j.job_id for j in queue.jobs("s")] == ["j0", "j1", "j2", "j3"]
    assert queue.counts("s") == {JobState.QUEUED: 3, JobState.RUNNING: 0, JobState.SUCCEEDED: 1,
                                 JobState.FAILED: 0, JobState.CANCELLED: 0}


def test_shared_job_between_studies_is_one_row(queue):
    queue.enqueue("a", jobs(2))
    queue.enqueue("b", [NewJob("j1", {"i": 1}), NewJob("x", {})])
    assert len(queue.jobs()) == 3
    assert [j.job_id for j in queue.jobs("b")] == ["j1", "x"]
    assert set(queue.studies()) == {"a", "b"}
    assert queue.claim("me", "b").job_id == "j1"
    assert queue.get("j1").state == JobState.RUNNING
    assert queue.jobs("a", [JobState.RUNNING])[0].job_id == "j1"


def test_claim_respects_study_and_order(queue):
    queue.enqueue("a", jobs(2, "a"))
    queue.enqueue("b", jobs(2, "b"))
    assert queue.claim("me", "b").job_id == "b0"
    assert queue.claim("me").job_id == "a0"
    assert queue.claim("me", "b").job_id == "b1"
    assert queue.claim("me", "b") is None


def test_detach_keeps_jobs_for_other_studies(queue):
    queue.enqueue("a", jobs(3))
    queue.enqueue("b", jobs(1))
    assert queue.detach("a", {"j1"}) == ["j0", "j2"]
    assert [j.job_id for j in queue.jobs("a")] == ["j1"]
    assert [j.job_id for j in queue.jobs("b")] == ["j0"] and len(queue.jobs()) == 3


def test_claim_only_given_jobs(queue):
    queue.enqueue("s", jobs(4))
    assert queue.claim("me", "s", ["j2", "j3"]).job_id == "j2"
    assert queue.claim("me", None, {"j3", "nope"}).job_id == "j3"
    assert queue.claim("me", "s", []) is None
    assert queue.claim("me", "s", ["j2"]) is None  # already running
    assert queue.claim("me", "s").job_id == "j0"


def test_only_owner_heartbeats_and_finishes(claimed):
    assert claimed.heartbeat("j0", "me")
    assert not claimed.heartbeat("j0", "other")
    assert claimed.finish("j0", "other", JobState.SUCCEEDED) is None
    assert claimed.get("j0").state == JobState.RUNNING
    assert claimed.finish("j0", "me", JobState.SUCCEEDED) == JobState.SUCCEEDED
    assert not claimed.heartbeat("j0", "me")
    assert claimed.finish("j0", "me", JobState.FAILED) is None
    assert claimed.get("j0").state == JobState.SUCCEEDED


def test_bounded_retries(queue):
    queue.enqueue("s", jobs(1, max_attempts=2))
    queue.claim("me", "s")
    assert queue.finish("j0", "me", JobState.FAILED, "boom", retry=True) == JobState.QUEUED
    assert queue.claim("me", "s").attempts == 2
    assert queue.finish("j0", "me", JobState.FAILED, "boom again", retry=True) == JobState.FAILED
    job = queue.get("j0")
    assert job.state == JobState.FAILED and job.error == "boom again" and queue.claim("me") is None
    assert queue.retry("s") == ["j0"]
    job = queue.get("j0")
    assert job.state == JobState.QUEUED and job.attempts == 0


def test_run_id_survives_retries(claimed):
    claimed.set_run_id("j0", "run-1")
    claimed.finish("j0", "me", JobState.FAILED, retry=True)
    assert claimed.claim("me", "s").run_id == "run-1"


def test_requeue_stale_dead_owner_and_timeout(queue):
    queue.enqueue("s", jobs(3, max_attempts=1))
    queue.enqueue("t", [NewJob("k", {}, max_attempts=3)])
    for _ in range(3):
        queue.claim("dead", "s")
    queue.claim("remote", "t")
    alive = {"dead": False, "remote": None}.get
    # The dead owner's jobs go at once, back to queued: a dead owner uses no attempt.
    assert sorted(queue.requeue_stale(3600, alive)) == ["j0", "j1", "j2"]
    assert {(j.state, j.attempts) for j in queue.jobs("s")} == {(JobState.QUEUED, 0)}
    assert queue.get("k").state == JobState.RUNNING  # unknown liveness, fresh heartbeat
    time.sleep(0.05)
    assert queue.requeue_stale(0.01, alive) == ["k"]
    assert (queue.get("k").state, queue.get("k").attempts) == (JobState.QUEUED, 0)
    assert queue.heartbeat("k", "remote") is False  # the old owner lost the lease


def test_release_does_not_count_attempt(claimed):
    assert claimed.release("j0", "me")
    job = claimed.get("j0")
    assert job.state == JobState.QUEUED and job.attempts == 0


def test_cancel_queued_and_running(queue):
    queue.enqueue("s", jobs(3))
    queue.claim("me", "s")
    queue.claim("me", "s")
    queue.finish("j1", "me", JobState.SUCCEEDED)
    assert sorted(queue.cancel("s")) == ["j0", "j2"]
    assert queue.heartbeat("j0", "me") is False  # the owner learns it must stop
    assert queue.finish("j0", "me", JobState.SUCCEEDED) is None
    assert queue.get("j0").state == JobState.CANCELLED
    assert queue.get("j1").state == JobState.SUCCEEDED
    assert queue.retry("s", [JobState.CANCELLED]) == ["j0", "j2"]
    assert queue.retry("s", [JobState.SUCCEEDED, JobState.QUEUED]) == []  # succeeded is final


def test_returned_records_are_snapshots(queue):
    queue.enqueue("s", jobs(1))
    job = queue.get("j0")
    job.spec["i"] = 99
    job.state = JobState.FAILED
    assert queue.get("j0").spec["i"] == 0 and queue.get("j0").state == JobState.QUEUED


def test_meta_roundtrip(queue):
    assert queue.get_meta("k") is None
    queue.set_meta("k", "v")
    queue.set_meta("k", "w")
    assert queue.get_meta("k") == "w"


def test_concurrent_claims_never_share_a_job(make_queue):
    n_jobs, n_workers = 60, 6
    make_queue().enqueue("s", jobs(n_jobs))
    claimed: list[list[str]] = [[] for _ in range(n_workers)]

    def worker(k: int) -> None:
        q = make_queue()  # its own connection
        while (job := q.claim(f"w{k}", "s")) is not None:
            claimed[k].append(job.job_id)
            assert q.finish(job.job_id, f"w{k}", JobState.SUCCEEDED) == JobState.SUCCEEDED

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flat = [j for c in claimed for j in c]
    assert sorted(flat) == sorted(f"j{i}" for i in range(n_jobs))
    assert make_queue().counts("s")[JobState.SUCCEEDED] == n_jobs


def test_sqlite_persists_across_handles(tmp_path):
    q = open_queue(f"sqlite:///{tmp_path}/q.db")
    q.enqueue("s", jobs(2))
    q.claim("me", "s")
    q.close()
    q2 = open_queue(tmp_path / "q.db")
    assert [j.state for j in q2.jobs("s")] == [JobState.RUNNING, JobState.QUEUED]
    assert isinstance(open_queue("memory://"), MemoryQueue)
    with pytest.raises(ValueError, match="unknown queue URL scheme 'redis'"):
        open_queue("redis://x")
