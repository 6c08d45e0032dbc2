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
from orchestrator.workspace import REPO_ROOT

STUDY = """
name: real
base: configs/centermask/toy/centermask-lite_v2-19-slim-dw_fpn_toy.py
data: toy
axes:
  backbone:
    dw: {}
seeds: [3]
profiles:
  tiny:
    resources: {gpus_per_job: 0, cpus_per_job: 2}
    patch:
      train_dataloader.dataset.pipeline.2.scale: [64, 64]
      val_dataloader.dataset.pipeline.1.scale: [64, 64]
      test_dataloader.dataset.pipeline.1.scale: [64, 64]
      train_cfg.max_epochs: 1
      train_cfg.val_interval: 1
      default_hooks.checkpoint.interval: 1
      default_hooks.logger.interval: 1
      model.test_cfg.fcos.score_thr: 0.0       # a 2-iteration model must still predict
table: {label: tab:real}
"""


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
