"""`orchestrator cancel` while a search runs: the running trial ends cancelled, no trial is
asked after it, nothing is retried, and the MLflow runs say so."""
from __future__ import annotations

import subprocess
import sys
import time

import optuna
from mlflow.tracking import MlflowClient

from orchestrator.cli import main
from orchestrator.queue import SqliteQueue
from orchestrator.workspace import REPO_ROOT

from .conftest import fake_search_study

N_TRIALS = 5
STUDY = fake_search_study("cancel-search", n_trials=N_TRIALS, seed=1, epochs=8, step_s=0.5)


def test_cancel_stops_the_search(write_study, tmp_path, workspace, capsys):
    ws = workspace
    study = write_study(STUDY)
    cmd = [sys.executable, "-m", "orchestrator.cli", "run", str(study), "--workspace", str(ws),
           "--parallel", "1", "--latency-images", "0"]
    with open(tmp_path / "run.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline, running = time.time() + 180, None
        while time.time() < deadline and running is None:
            time.sleep(0.2)
            assert proc.poll() is None, (tmp_path / "run.log").read_text()
            if (ws / "queue.db").exists():
                running = next((j.job_id for j in SqliteQueue(ws / "queue.db").jobs(
                    "cancel-search") if j.state == "running" and j.run_id), None)
        assert running is not None, "no trial started"
        assert main(["cancel", str(study), "--workspace", str(ws)]) == 0
        assert f"cancelled 1 job(s) of cancel-search: {running}" in capsys.readouterr().out
        proc.wait(timeout=120)
    out = (tmp_path / "run.log").read_text()

    storage = optuna.storages.RDBStorage(f"sqlite:///{ws}/optuna.db")
    trials = optuna.load_study(study_name="cancel-search:t", storage=storage).trials
    assert len(trials) == 1, out  # the search stopped: no trial asked after the cancel
    (trial,) = trials
    assert trial.state.name == "FAIL" and trial.user_attrs["cm.job_id"] == running
    (job,) = SqliteQueue(ws / "queue.db").jobs("cancel-search")
    assert job.state == "cancelled" and job.attempts == 1  # not retried
    client = MlflowClient(f"sqlite:///{ws}/mlflow.db")
    run = client.get_run(trial.user_attrs["cm.run_id"])
    assert run.info.status == "KILLED" and run.data.tags["cm.status"] == "cancelled"
    assert "cancelled" in out
