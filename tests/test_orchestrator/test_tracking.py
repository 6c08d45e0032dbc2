"""MLflow: 4 jobs logging at once into one SQLite store lose nothing; the contract layout."""
from __future__ import annotations

from mlflow.tracking import MlflowClient

from orchestrator.cli import main
from orchestrator.queue import SqliteQueue
from orchestrator.testing.studies import fake_study, timed_profile

EPOCHS = 12
STUDY = fake_study(
    "four", profiles=timed_profile(EPOCHS, 0.3, {"+job_runner.via": "visbackend"}),
    axes={"case": {"a": {}, **{case: {"optim_wrapper.optimizer.lr": lr}
                               for case, lr in zip("bcd", (0.1, 0.2, 0.3), strict=True)}}},
    seeds=[7], table={"label": "tab:four"})


def test_four_concurrent_jobs_lose_no_metrics(write_study, workspace, capsys):
    ws = workspace
    rc = main(["run", str(write_study(STUDY)), "--workspace", str(ws), "--parallel", "4"])
    out = capsys.readouterr().out
    print(out)
    assert rc == 0, out
    assert "served at http://127.0.0.1:" in out  # concurrent writers go through a server
    jobs = SqliteQueue(ws / "queue.db").jobs("four")
    # Whether the four jobs actually overlapped depends on the machine's load; every writer
    # going through the loopback server (above) is what keeps their metrics, and that is
    # checked whatever the timing.
    assert len(jobs) == 4

    client = MlflowClient(f"sqlite:///{ws}/mlflow.db")
    exp = client.get_experiment_by_name("four")
    (parent,) = client.search_runs([exp.experiment_id], "tags.`cm.role` = 'study'")
    assert parent.info.status == "FINISHED" and parent.data.metrics["jobs_succeeded"] == 4
    runs = client.search_runs([exp.experiment_id], "tags.`cm.role` = 'job'")
    assert sorted(r.data.tags["cm.job_hash"] for r in runs) == sorted(j.job_id for j in jobs)
    for run in runs:
        tags, rid = run.data.tags, run.info.run_id
        assert run.info.status == "FINISHED" and tags["cm.status"] == "succeeded"
        assert tags["mlflow.parentRunId"] == parent.info.run_id
        assert tags["cm.study"] == "four" and tags["cm.table"] == "tab:four"
        assert tags["cm.seed"] == "7" and tags["cm.profile"] == "t" and tags["cm.dataset"] == "none"
        assert tags["cm.level.case"] in "abcd" and tags["cm.git_dirty"] in ("true", "false")
        assert {"cm.git_commit", "cm.config_family", "cm.version.mmdet"} <= set(tags)
        assert run.data.params["level.case"] == tags["cm.level.case"]
        assert run.data.params["seed"] == "7"
        for key in ("loss", "coco/segm_mAP"):
            steps = sorted(m.step for m in client.get_metric_history(rid, key))
            assert steps == list(range(1, EPOCHS + 1)), (key, steps)  # none lost, none doubled
        assert run.data.metrics["test/coco/segm_mAP"] > 0 and "params_m" in run.data.metrics
        names = {a.path for a in client.list_artifacts(rid)}
        assert {"metrics.json", "logs"} <= names
