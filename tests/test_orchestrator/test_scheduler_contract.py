"""Queue semantics through every executor: exactly once, retries, resume, dedup, cancel.

Fake jobs (configs whose ``job_runner`` is a fake runner of ``orchestrator.testing``: sleep
and checkpoint per epoch) keep each job well under a second; MLflow is off here (see
test_tracking.py and test_kill.py for it).
"""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.executors import Executor
from orchestrator.executors.local import LocalExecutor
from orchestrator.queue import SqliteQueue
from orchestrator.run.scheduler import JobOptions, Scheduler, Settings, Summary, enqueue_plan
from orchestrator.study.plan import Plan, plan_study
from orchestrator.study.reader import load_study
from orchestrator.workspace import Workspace

from .conftest import FAKE_CONFIG

FAST = Settings(poll_s=0.05, heartbeat_s=0.3, progress_s=100, job=JobOptions(latency_images=0))


@pytest.fixture(params=["local", "ray"])
def executor(request) -> Iterator[Executor]:
    if request.param == "ray":
        ray_executor = request.getfixturevalue("ray_executor")
        yield ray_executor
    else:
        ex = LocalExecutor(parallel=2, gpus=[])
        yield ex
        ex.shutdown()


def study_text(name: str, levels: str, retries: int = 1, epochs: int = 3) -> str:
    return (f"name: {name}\nbase: {FAKE_CONFIG}\ndata: none\nretries: {retries}\n"
            f"resources: {{gpus_per_job: 0, cpus_per_job: 1}}\n"
            f"profiles:\n  t:\n    patch: {{job_runner.epochs: {epochs}, "
            f"job_runner.step_s: 0.05}}\n"
            f"axes:\n  case:\n{levels}")


def make_plan(write_study, tmp_path: Path, repo_root: Path, text: str, file: str) -> Plan:
    study = load_study(write_study(text, file))
    return plan_study(study, None, workspace=tmp_path / "ws", repo_root=repo_root)


def run(plan: Plan, executor: Executor, tmp_path: Path, lines: list[str] | None = None
        ) -> tuple[Summary, SqliteQueue]:
    ws = Workspace.at(tmp_path / "ws")
    queue = SqliteQueue(ws.queue_path)
    enqueue_plan(plan, queue, {})
    sched = Scheduler(plan, queue, executor, ws, settings=FAST,
                      out=(lines.append if lines is not None else lambda s: None))
    return sched.run(), queue


def starts(tmp_path: Path, job_id: str) -> int:
    log = tmp_path / "ws" / "jobs" / job_id / "worker.log"
    return log.read_text().count("=== job ") - log.read_text().count("succeeded in")


def test_each_job_runs_once_and_a_rerun_does_nothing(executor, write_study, tmp_path,
                                                     repo_root):
    levels = ("    a: {}\n    b: {optim_wrapper.optimizer.lr: 0.5}\n"
              "    c: {train_cfg.max_epochs: 9}\n")
    plan = make_plan(write_study, tmp_path, repo_root, study_text("once", levels), "s.yaml")
    summary, queue = run(plan, executor, tmp_path)
    assert summary.ok and summary.counts["succeeded"] == 3 and len(summary.started) == 3
    for job in plan.jobs:
        assert starts(tmp_path, job.job_id) == 1
        rec = queue.get(job.job_id)
        assert rec.state == "succeeded" and rec.attempts == 1
    again, _ = run(plan, executor, tmp_path)
    assert again.started == [] and again.counts["succeeded"] == 3


def test_failures_retry_resume_and_do_not_stop_the_study(executor, write_study, tmp_path,
                                                         repo_root):
    levels = ("    ok: {}\n"
              "    flaky: {+job_runner.fail_attempts: 1, +job_runner.fail_epoch: 2}\n"
              "    crash: {+job_runner.crash: segv, +job_runner.fail_epoch: 2}\n"
              "    broken: {+job_runner.fail_attempts: 9}\n"
              "    nan: {+job_runner.nan: true}\n")
    plan = make_plan(write_study, tmp_path, repo_root, study_text("fail", levels), "s.yaml")
    lines: list[str] = []
    summary, queue = run(plan, executor, tmp_path, lines)
    state = {j.levels["case"]: queue.get(j.job_id) for j in plan.jobs}
    assert state["ok"].state == "succeeded" and state["ok"].attempts == 1
    for case in ("flaky", "crash"):
        assert state[case].state == "succeeded" and state[case].attempts == 2
        log = (tmp_path / "ws" / "jobs" / state[case].job_id / "worker.log").read_text()
        assert "resuming from epoch 1" in log  # the retry continued from its checkpoint
    assert state["broken"].state == "failed" and state["broken"].attempts == 2
    assert "RuntimeError: fake failure at epoch 1, attempt 2" in state["broken"].error
    assert state["nan"].state == "failed" and state["nan"].attempts == 1  # NaN: no retry
    assert "FloatingPointError" in state["nan"].error
    assert "killed by signal 11" in "\n".join(lines)
    assert not summary.ok and summary.counts == {"queued": 0, "running": 0, "succeeded": 3,
                                                  "failed": 2, "cancelled": 0}


def test_a_job_shared_by_two_studies_runs_once(executor, write_study, tmp_path, repo_root):
    a = make_plan(write_study, tmp_path, repo_root,
                  study_text("a", "    base: {}\n    fast: {optim_wrapper.optimizer.lr: 0.5}\n"),
                  "a.yaml")
    b = make_plan(write_study, tmp_path, repo_root,
                  study_text("b", "    base: {}\n    slow: {optim_wrapper.optimizer.lr: 1e-4}\n"),
                  "b.yaml")
    shared = a.jobs[0].job_id
    assert b.jobs[0].job_id == shared
    run(a, executor, tmp_path)
    summary, queue = run(b, executor, tmp_path)
    assert summary.started == [b.jobs[1].job_id]
    assert starts(tmp_path, shared) == 1 and summary.counts["succeeded"] == 2


def test_cancel_stops_running_and_queued_jobs(executor, write_study, tmp_path, repo_root):
    # Job ids of this test alone (a fresh learning rate per run): nothing from an earlier run
    # of the same test, wherever its work dirs are, can pass for one of these jobs.
    salt = uuid.uuid4().int % 10**6 / 10**7
    levels = "".join(f"    j{i}: {{optim_wrapper.optimizer.lr: {i + 1 + salt}}}\n"
                     for i in range(4))
    plan = make_plan(write_study, tmp_path, repo_root,
                     study_text("cancel", levels, epochs=400), "s.yaml")
    ws = Workspace.at(tmp_path / "ws")

    def cancel_when_running() -> None:
        q = SqliteQueue(ws.queue_path)
        deadline = time.time() + 60
        while time.time() < deadline and q.counts("cancel")["running"] < 2:
            time.sleep(0.05)
        time.sleep(0.3)
        q.cancel("cancel")

    t = threading.Thread(target=cancel_when_running)
    t.start()
    t0 = time.time()
    summary, queue = run(plan, executor, tmp_path)
    t.join()
    assert summary.counts["cancelled"] == 4 and not executor.running(), summary.counts
    assert time.time() - t0 < 30  # 400 epochs x 0.05 s would take 20 s per job
