"""SIGKILL a search while trials run; the rerun loses no trial and repeats none."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import optuna
import psutil
from mlflow.tracking import MlflowClient

from orchestrator.queue import SqliteQueue
from orchestrator.workspace import REPO_ROOT

from .conftest import fake_search_study

EPOCHS = 8
N_TRIALS = 3
STUDY = fake_search_study("kill-search", n_trials=N_TRIALS, seed=3, epochs=EPOCHS, step_s=0.25)


def _trials(ws):
    storage = optuna.storages.RDBStorage(f"sqlite:///{ws}/optuna.db")
    return optuna.load_study(study_name="kill-search:t", storage=storage).trials


def test_sigkill_then_rerun_loses_and_repeats_no_trial(write_study, tmp_path, workspace):
    ws = workspace
    cmd = [sys.executable, "-m", "orchestrator.cli", "run", str(write_study(STUDY)),
           "--workspace", str(ws), "--parallel", "2", "--latency-images", "0"]
    log = open(tmp_path / "first.log", "w")
    first = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)

    # Kill once a trial is finished and another is part-way (checkpoint at epoch 2-4).
    deadline, mid_way = time.time() + 240, None
    while time.time() < deadline and mid_way is None:
        time.sleep(0.2)
        assert first.poll() is None, (tmp_path / "first.log").read_text()
        if not (ws / "queue.db").exists():
            continue
        jobs = SqliteQueue(ws / "queue.db").jobs("kill-search")
        if not any(j.state == "succeeded" for j in jobs):
            continue
        for job in jobs:
            ckpt = ws / "jobs" / job.job_id / "fake_ckpt.json"
            if job.state == "running" and ckpt.exists() and 2 <= json.loads(
                    ckpt.read_text())["epoch"] <= EPOCHS - 4:
                mid_way = job.job_id
    assert mid_way is not None, "never saw a finished trial next to a half-way one"
    children = psutil.Process(first.pid).children(recursive=True)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    log.close()
    _, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, f"orphans outlived the driver: {alive}"
    before = {t.number: t.state.name for t in _trials(ws)}
    assert "RUNNING" in before.values()  # Optuna still thinks they run

    second = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-4000:]
    assert "taken over from an earlier run" in second.stdout
    trials = _trials(ws)
    assert [t.number for t in trials] == list(range(N_TRIALS))  # none lost, none extra
    assert {t.state.name for t in trials} == {"COMPLETE"}
    for number, state in before.items():  # trials finished before the kill were not rerun
        if state == "COMPLETE":
            assert "cm.run_id" in trials[number].user_attrs

    queue = SqliteQueue(ws / "queue.db")
    jobs = {j.job_id: j for j in queue.jobs("kill-search")}
    assert set(jobs) == {t.user_attrs["cm.job_id"] for t in trials}
    assert {j.state for j in jobs.values()} == {"succeeded"}
    assert jobs[mid_way].attempts == 1  # the kill used no attempt (only starts count)
    assert "resuming from epoch" in (ws / "jobs" / mid_way / "worker.log").read_text()

    client = MlflowClient(f"sqlite:///{ws}/mlflow.db")
    exp = client.get_experiment_by_name("kill-search")
    (parent,) = client.search_runs([exp.experiment_id], "tags.`cm.role` = 'study'")
    runs = client.search_runs([exp.experiment_id], "tags.`cm.role` = 'job'")
    assert sorted(int(r.data.tags["cm.trial"]) for r in runs) == list(range(N_TRIALS))
    for run in runs:  # one run per trial, under the one parent, every epoch logged once
        t = trials[int(run.data.tags["cm.trial"])]
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.info.run_id == t.user_attrs["cm.run_id"]
        assert run.info.status == "FINISHED" and run.data.metrics["objective"] == t.value
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "coco/segm_mAP")]
        assert set(steps) == set(range(1, EPOCHS + 1)) and len(steps) <= EPOCHS + 1
