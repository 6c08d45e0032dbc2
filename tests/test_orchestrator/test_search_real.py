"""One real trial: CenterMask-Lite on the tiny toy set, pruned by the hook after epoch 1.

The threshold pruner with ``lower: 2.0`` prunes any AP (a fraction <= 1) at the first
validation, so the test is deterministic: the mmengine hook reports epoch 1 to the Optuna
storage from the job process, training stops there (no epoch 2 or 3, no final test), and
the trial ends PRUNED in Optuna, ``succeeded`` in the queue (the job ended as designed) and
``cm.status=pruned`` on its MLflow run.
"""
from __future__ import annotations

import json

import optuna
from mlflow.tracking import MlflowClient

from orchestrator.cli import main
from orchestrator.queue import SqliteQueue
from orchestrator.testing.studies import tiny_toy_study

STUDY = tiny_toy_study("real-search", max_epochs=3, kind="search", seeds=[1], search={
    "metric": "coco/segm_mAP", "n_trials": 1, "sampler": {"type": "random", "seed": 0},
    "pruner": {"type": "threshold", "lower": 2.0},
    "space": {"lr": {"type": "float", "low": 1.0e-4, "high": 1.0e-3, "log": True,
                     "key": "optim_wrapper.optimizer.lr"}}})


def test_real_trial_is_pruned_cleanly_by_the_hook(write_study, workspace, tiny_toy,
                                                   monkeypatch, capsys):
    monkeypatch.setenv("CM_TOY_ROOT", str(tiny_toy))
    ws = workspace
    study_file = write_study(STUDY)
    rc = main(["run", str(study_file), "--workspace", str(ws), "--latency-images", "0"])
    out = capsys.readouterr().out
    (job_dir,) = (ws / "jobs").iterdir()
    log = (job_dir / "worker.log").read_text()
    assert rc == 1, out + log[-5000:]  # no trial completed: no best config
    assert "trial   0 PRUNED: at step 1" in out and "No trial completed yet" in out

    storage = optuna.storages.RDBStorage(f"sqlite:///{ws}/optuna.db")
    (trial,) = optuna.load_study(study_name="real-search:tiny", storage=storage).trials
    assert trial.state.name == "PRUNED" and list(trial.intermediate_values) == [1]

    # Training stopped after epoch 1; no test; the job ended normally.
    assert "Optuna trial 0 pruned at step 1" in log and "final test skipped" in log
    assert (job_dir / "epoch_1.pth").exists() and not (job_dir / "epoch_2.pth").exists()
    result = json.loads((job_dir / "result.json").read_text())
    assert result["metrics"]["trial/pruned_step"] == 1.0
    assert not any(k.startswith("test/") for k in result["metrics"])
    (job,) = SqliteQueue(ws / "queue.db").jobs("real-search")
    assert job.state == "succeeded" and job.attempts == 1
    assert main(["status", str(study_file), "--workspace", str(ws)]) == 0
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith(job.job_id)]
    assert line.split()[1:4] == ["succeeded", "0", "PRUNED"]  # queue state, trial, Optuna

    client = MlflowClient(f"sqlite:///{ws}/mlflow.db")
    exp = client.get_experiment_by_name("real-search")
    (run,) = client.search_runs([exp.experiment_id], "tags.`cm.role` = 'job'")
    assert run.info.status == "FINISHED" and run.info.run_id == trial.user_attrs["cm.run_id"]
    assert run.data.tags["cm.status"] == "pruned" and run.data.tags["cm.trial_state"] == "PRUNED"
    assert run.data.tags["cm.pruned_step"] == "1" and run.data.tags["cm.trial"] == "0"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "coco/segm_mAP")] == [1]
    assert float(run.data.params["trial.lr"]) == trial.params["lr"]
    assert run.data.params["optim_wrapper.optimizer.lr"] == str(trial.params["lr"])
