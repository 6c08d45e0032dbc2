"""SIGKILL the orchestrator while jobs run; the rerun finishes every job exactly once."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psutil
from mlflow.tracking import MlflowClient

from orchestrator.queue import SqliteQueue
from orchestrator.testing.studies import fake_study, timed_profile
from orchestrator.workspace import REPO_ROOT

EPOCHS = 12
STUDY = fake_study("killme", retries=2, profiles=timed_profile(EPOCHS, 0.4), axes={"case": {
    "short": {"job_runner.epochs": 2}, "b": {}, "c": {"optim_wrapper.optimizer.lr": 0.1}}})


def orchestrator(*args: str) -> list[str]:
    return [sys.executable, "-m", "orchestrator.cli", *args]


def test_sigkill_then_rerun_runs_every_job_exactly_once(write_study, tmp_path, workspace):
    study_file = write_study(STUDY)
    ws = workspace
    cmd = orchestrator("run", str(study_file), "--workspace", str(ws), "--parallel", "2")
    log = open(tmp_path / "first.log", "w")
    first = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)

    # Kill once the short job is done and a long one is part-way (checkpoint at epoch 2-8).
    deadline = time.time() + 240
    mid_way = None
    while time.time() < deadline and mid_way is None:
        time.sleep(0.2)
        assert first.poll() is None, (tmp_path / "first.log").read_text()
        if not (ws / "queue.db").exists():
            continue
        states = {j.job_id: j.state for j in SqliteQueue(ws / "queue.db").jobs("killme")}
        if "succeeded" not in states.values():
            continue
        for job_id, state in states.items():
            ckpt = ws / "jobs" / job_id / "fake_ckpt.json"
            if state == "running" and ckpt.exists() and 2 <= json.loads(
                    ckpt.read_text())["epoch"] <= EPOCHS - 4:
                mid_way = job_id
    ids = sorted(states)
    assert mid_way is not None, "never saw a finished job next to a half-way one"
    children = psutil.Process(first.pid).children(recursive=True)
    assert children  # job processes and the MLflow server
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    log.close()
    _, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, f"orphans outlived the orchestrator: {alive}"

    second = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "requeued" in second.stdout  # the dead owner's running jobs came back at once
    queue = SqliteQueue(ws / "queue.db")
    assert {queue.get(i).state for i in ids} == {"succeeded"}
    assert queue.get(mid_way).attempts == 1  # the kill used no attempt (only starts count)
    resumed = (ws / "jobs" / mid_way / "worker.log").read_text()
    assert "resuming from epoch" in resumed  # from its checkpoint, not from scratch

    client = MlflowClient(f"sqlite:///{ws}/mlflow.db")
    exp = client.get_experiment_by_name("killme")
    runs = client.search_runs([exp.experiment_id], "tags.`cm.role` = 'job'")
    assert sorted(r.data.tags["cm.job_hash"] for r in runs) == sorted(ids)  # one run per job
    for run in runs:
        assert run.info.status == "FINISHED" and run.data.tags["cm.status"] == "succeeded"
        epochs = 2 if run.data.tags["cm.level.case"] == "short" else EPOCHS
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "loss")]
        assert set(steps) == set(range(1, epochs + 1))  # nothing lost across the kill
        assert len(steps) <= epochs + 1  # at most the epoch in flight was logged twice
    (parent,) = client.search_runs([exp.experiment_id], "tags.`cm.role` = 'study'")
    assert parent.info.status == "FINISHED"

    third = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert third.returncode == 0 and "nothing to do" in third.stdout
