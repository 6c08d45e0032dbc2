"""Fault injection: SIGKILL ``orchestrator run`` at every named kill window, then rerun.

Each test runs a small fake study with ``retries: 0`` (one attempt per job, so a kill that
charged an attempt would fail the job), kills the run at one window
(``orchestrator.testing.faults``; a window inside a job process kills the orchestrator from
there), reruns it without the fault and asserts the issue-16 promise: every job succeeded
exactly once (one "succeeded" line in its log), one MLflow run per job in a final state, the
study's parent run closed, nothing left to do, no manual step in between.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from orchestrator.queue import SqliteQueue
from orchestrator.testing.faults import WINDOWS, fault_env
from orchestrator.testing.studies import fake_study, timed_profile
from orchestrator.workspace import REPO_ROOT

STUDY = fake_study("faults", retries=0, profiles=timed_profile(2, 0.01), axes={"case": {"a": {}}})

# The mmengine checkpoint window needs a real training: see test_faults_checkpoint.py.
FAKE_WINDOWS = sorted(set(WINDOWS) - {"checkpoint.before_rename"})


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace cache where the study's model already passed the planner's build check
    (copied into each test's workspace: the check imports mmdet, 10 s on a busy machine)."""
    from orchestrator.study.plan import plan_study
    from orchestrator.study.reader import load_study

    root = tmp_path_factory.mktemp("planned")
    (root / "study.yaml").write_text(STUDY)
    plan_study(load_study(root / "study.yaml"), None, workspace=root, repo_root=REPO_ROOT)
    return root / "cache"


@pytest.fixture
def ws(workspace: Path, planned: Path) -> Path:
    shutil.copytree(planned, workspace / "cache")
    return workspace


def run(study: Path, ws: Path, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "orchestrator.cli", "run", str(study), "--workspace",
           str(ws), "--parallel", "1"]
    return subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def assert_done_once(ws: Path, name: str, n_jobs: int) -> None:
    """Every job succeeded exactly once; one final MLflow run each; the parent closed."""
    queue = SqliteQueue(ws / "queue.db")
    jobs = queue.jobs(name)
    assert len(jobs) == n_jobs and {j.state for j in jobs} == {"succeeded"}, jobs
    for job in jobs:
        log = (ws / "jobs" / job.job_id / "worker.log").read_text()
        assert log.count(f"=== job {job.job_id} succeeded") == 1, log
    client = MlflowClient(f"sqlite:///{ws}/mlflow.db")
    exp = client.get_experiment_by_name(name)
    runs = client.search_runs([exp.experiment_id], "tags.`cm.role` = 'job'")
    assert sorted(r.data.tags["cm.job_hash"] for r in runs) == sorted(j.job_id for j in jobs)
    for r in runs:
        assert (r.info.status, r.data.tags["cm.status"]) == ("FINISHED", "succeeded"), r
    parents = client.search_runs([exp.experiment_id], "tags.`cm.role` = 'study'")
    assert [p.info.status for p in parents] == ["FINISHED"]


#: The windows in the order one job meets them (a window of a rerun's path where the order
#: differs: after ``job.after_result`` the rerun records the result without a job process).
CHAIN = ["run.enqueued", "write:config.py", "prepare.run_created", "write:job.json",
         "job.started", "job.after_metrics", "write:result.json", "job.after_result",
         "record.before_finish", "record.after_finish"]


def test_chain_of_kills_at_every_window_then_one_clean_run(write_study, ws, tmp_path):
    """One kill at each window in turn, each rerun starting from what the last kill left;
    the last rerun has nothing left but bookkeeping, and nothing ran twice."""
    assert set(CHAIN) == set(FAKE_WINDOWS) - {"run.all_done"}  # never reached again
    study = write_study(STUDY)
    for window in CHAIN:
        marker = tmp_path / f"fired-{window}"
        out = run(study, ws, fault_env(window, marker))
        assert marker.exists(), f"window {window} never reached:\n{out.stdout}{out.stderr}"
        assert out.returncode == -signal.SIGKILL, out.stdout + out.stderr
    last = run(study, ws)
    assert last.returncode == 0 and "nothing to do" in last.stdout, last.stdout + last.stderr
    assert "closed the study's MLflow run" in last.stdout  # left open by the last kill
    assert_done_once(ws, "faults", 1)


# ~20-40 s each on a busy 2-core machine: slow, except the window the chain cannot reach.
@pytest.mark.parametrize("window", [
    pytest.param(w, marks=() if w == "run.all_done" else pytest.mark.slow)
    for w in FAKE_WINDOWS])
def test_kill_at_window_then_rerun_loses_and_repeats_nothing(window, write_study, ws, tmp_path):
    study = write_study(STUDY)
    marker = tmp_path / "fired"
    first = run(study, ws, fault_env(window, marker))
    assert marker.exists(), f"window {window} never reached:\n{first.stdout}{first.stderr}"
    assert first.returncode == -signal.SIGKILL, first.stdout + first.stderr

    second = run(study, ws)
    assert second.returncode == 0, second.stdout + second.stderr
    assert_done_once(ws, "faults", 1)
    if window in ("record.after_finish", "run.all_done"):  # killed with nothing left to run
        assert "nothing to do" in second.stdout, second.stdout
