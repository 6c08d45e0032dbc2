"""One real job end to end: CenterMask-Lite on a tiny toy set, train + test, into MLflow.

Two training iterations on 8 images of 128 px: the numbers mean nothing, the plumbing is
what is checked (mmengine Runner, the vis backend on a pre-created run, test metrics
forwarded with ``test/``, params_m, time_ms, artifacts, resume from the checkpoint).
"""
from __future__ import annotations

import json
import subprocess
import sys

from mlflow.tracking import MlflowClient

from orchestrator.cli import main
from orchestrator.testing.studies import tiny_toy_study
from orchestrator.workspace import REPO_ROOT

STUDY = tiny_toy_study("real", max_epochs=1, seeds=[3], axes={"backbone": {"dw": {}}},
                       table={"label": "tab:real"})


def test_real_job_trains_tests_and_logs(write_study, tmp_path, workspace, tiny_toy,
                                       monkeypatch, capsys):
    monkeypatch.setenv("CM_TOY_ROOT", str(tiny_toy))
    ws = workspace
    rc = main(["run", str(write_study(STUDY)), "--workspace", str(ws), "--latency-images", "2"])
    out = capsys.readouterr().out
    logs = [p.read_text()[-5000:] for p in (ws / "jobs").glob("*/worker.log")]
    assert rc == 0, out + "\n".join(logs)
    assert "SYNTHETIC TOY" not in out and "data: toy at" in out  # loud banner
    assert "served at" not in out  # one job: it writes to the SQLite store directly

    client = MlflowClient(f"sqlite:///{ws}/mlflow.db")
    exp = client.get_experiment_by_name("real")
    (run,) = client.search_runs([exp.experiment_id], "tags.`cm.role` = 'job'")
    tags, metrics = run.data.tags, run.data.metrics
    assert run.info.status == "FINISHED" and tags["cm.status"] == "succeeded"
    spec = json.loads((tiny_toy / "SPEC.json").read_text())
    assert tags["cm.dataset"].startswith("toy:") and spec["num_train"] == 8
    assert tags["cm.hardware"] and tags["cm.time_hardware"] == tags["cm.hardware"]
    for kind in ("bbox", "segm"):
        for suffix in ("", "_50", "_75", "_s", "_m", "_l"):
            value = metrics[f"test/coco/{kind}_mAP{suffix}"]
            assert -1.0 <= value <= 1.0  # CocoMetric's fractions (-1: no such objects)
    assert 0.1 < metrics["params_m"] < 20 and metrics["time_ms"] > 0
    assert [m.step for m in client.get_metric_history(run.info.run_id, "coco/segm_mAP")] == [1]
    assert client.get_metric_history(run.info.run_id, "loss")  # training losses
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.py", "metrics.json", "logs"} <= names
    config_text = client.download_artifacts(run.info.run_id, "config.py", str(tmp_path))
    assert "seed=3" in open(config_text).read().replace(" ", "")

    # A retry resumes from the job's checkpoint instead of starting over.
    (job_dir,) = (ws / "jobs").iterdir()
    (job_dir / "result.json").unlink()
    again = subprocess.run([sys.executable, "-m", "orchestrator.job",
                            str(job_dir / "job.json")], cwd=REPO_ROOT, capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "resumed epoch: 1" in again.stdout + again.stderr


def test_empty_predictions_count_as_zero_ap():
    from orchestrator.job.train import fill_empty_coco

    evaluator = {"type": "CocoMetric", "metric": ["bbox", "segm"]}
    out, filled = fill_empty_coco({}, evaluator)
    assert filled and out["coco/segm_mAP_l"] == 0.0 and len(out) == 12
    real = {f"coco/bbox_mAP{s}": 0.5 for s in ("", "_50", "_75", "_s", "_m", "_l")}
    out, filled = fill_empty_coco(real, [evaluator])
    assert filled and out["coco/bbox_mAP"] == 0.5 and out["coco/segm_mAP"] == 0.0
    assert fill_empty_coco({**real, "coco/segm_mAP": 0.1}, evaluator)[1] is False


def test_tiny_toy_study_patches_the_toy_config(write_study):
    """The real-job tests' shared profile applies cleanly to the toy config and reaches every
    dataloader's Resize step (addressed by type); the study file it is part of loads."""
    from orchestrator.study.configs import apply_patch, load_base
    from orchestrator.study.reader import load_study
    from orchestrator.testing.studies import TOY_LITE_CONFIG, tiny_toy_patch

    config, issues = apply_patch(load_base(REPO_ROOT / TOY_LITE_CONFIG), tiny_toy_patch(3))
    assert issues == []
    for split in ("train", "val", "test"):
        pipeline = config[f"{split}_dataloader"]["dataset"]["pipeline"]
        (resize,) = [step for step in pipeline if step["type"] == "Resize"]
        assert list(resize["scale"]) == [64, 64], split
    assert config["train_cfg"]["max_epochs"] == 3 and config["train_cfg"]["val_interval"] == 1
    assert config["model"]["test_cfg"]["fcos"]["score_thr"] == 0.0
    study = load_study(write_study(STUDY))
    assert study.name == "real" and list(study.seeds) == [3] and list(study.profiles) == ["tiny"]
    assert study.profiles["tiny"].patch == tiny_toy_patch(1)
