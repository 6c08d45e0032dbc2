"""Evaluation-only jobs: a published checkpoint converted once, tested end to end, tabled.

The centermask2 fixture checkpoint (random weights of CenterMask-Lite V-19-slim-dw-eSE,
tests/data/centermask2/) stands in for the published file of the metafile model
``centermask-lite_v2-19-slim-dw-ese_fpn_ms-4x_coco``: renamed to its published name in a
tmp weights folder, converted by the job, tested with the model's 80 COCO classes on 3
images of the toy set made with ``--coco-categories`` (256 x 320 px), and its row filled by
``orchestrator table``.
"""
from __future__ import annotations

import multiprocessing
import shutil
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from orchestrator.cli import main
from orchestrator.job.evaluate import (
    checkpoint_keys,
    converted_checkpoint,
    is_mmdet_checkpoint,
)
from orchestrator.study.errors import StudyError
from orchestrator.study.plan import plan_study
from orchestrator.study.reader import load_study
from orchestrator.workspace import REPO_ROOT

FIXTURE = REPO_ROOT / "tests" / "data" / "centermask2" / \
    "centermask2_lite_V_19_slim_dw_eSE_random.pth"
MODEL = "centermask-lite_v2-19-slim-dw-ese_fpn_ms-4x_coco"
WEIGHTS = "centermask-lite-V-19-eSE-slim-dw-FPN-ms-4x.pth"  # its metafile Weights
CONFIG = REPO_ROOT / "configs" / "centermask" / f"{MODEL}.py"

STUDY = """
name: published-fixture
base: configs/centermask/centermask-lite_v2-19-slim-dw-ese_fpn_ms-4x_coco.py
axes:
  backbone:
    V-19-slim-dw: {{}}
    V-39:                                   # no published model in this study
      model.backbone.arch: V-39
      model.neck.in_channels: [512, 768, 1024]
profiles:
  published:
    data: toy
    resources: {{gpus_per_job: 0, cpus_per_job: 2}}
    evaluate:
      weights_dir: {weights}
      models:
        - {{levels: {{backbone: V-19-slim-dw}}, published: {model}}}
    override:
      +test_dataloader.dataset.indices: 3
      test_dataloader.num_workers: 0
      test_dataloader.persistent_workers: false
      test_dataloader.dataset.pipeline.1.scale: [512, 320]
      model.test_cfg.fcos.score_thr: 0.0    # random weights must still predict
table:
  title: "Published fixture"
  rows:
    - {{name: "Lite V-19-slim-dw", levels: {{backbone: V-19-slim-dw}}}}
    - {{name: "Lite V-39", levels: {{backbone: V-39}}}}
  columns: [params_m, segm_mAP, bbox_mAP, time_ms]
"""


@pytest.fixture(scope="module")
def coco_toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 val images (256 x 320) labelled with COCO category ids, all 80 categories listed."""
    from centermask_mm.datasets import toy

    return toy.generate(tmp_path_factory.mktemp("coco_toy"), toy.ToySpec(
        num_train=1, num_val=3, height=256, width=320, coco_categories=True))


@pytest.fixture
def published(tmp_path: Path) -> Path:
    folder = tmp_path / "published"
    folder.mkdir()
    shutil.copy(FIXTURE, folder / WEIGHTS)
    return folder


def _study(write_study, weights: Path) -> Path:
    return write_study(STUDY.format(weights=weights, model=MODEL))


def test_plan_lists_evaluation_jobs(write_study, published, workspace, coco_toy,
                                    monkeypatch, capsys):
    monkeypatch.setenv("CM_TOY_ROOT", str(coco_toy))
    path = _study(write_study, published)
    assert main(["plan", str(path), "--profile", "published", "--workspace",
                 str(workspace)]) == 0
    out = capsys.readouterr().out
    assert "evaluate" in out and WEIGHTS in out and MODEL in out
    assert "backbone=V-39" in out and "no published model" in out  # the excluded row
    plan = plan_study(load_study(path), "published", workspace=workspace, repo_root=REPO_ROOT)
    (job,) = plan.jobs
    assert job.mode == "evaluate" and job.levels == {"backbone": "V-19-slim-dw"}
    # The model keeps COCO's 80 classes on this data set (not the toy set's 5).
    assert job.config["model"]["bbox_head"]["num_classes"] == 80
    # The job's identity includes the weights file's hash: another file, another job.
    other = published / WEIGHTS
    other.write_bytes(other.read_bytes() + b"\0")
    again = plan_study(load_study(path), "published", workspace=workspace,
                       repo_root=REPO_ROOT)
    assert again.jobs[0].job_id != job.job_id


def test_missing_weights_and_unknown_model_are_plan_errors(write_study, tmp_path, workspace,
                                                           coco_toy, monkeypatch):
    monkeypatch.setenv("CM_TOY_ROOT", str(coco_toy))
    empty = tmp_path / "empty"
    empty.mkdir()
    path = _study(write_study, empty)
    with pytest.raises(StudyError) as err:
        plan_study(load_study(path), "published", workspace=workspace, repo_root=REPO_ROOT)
    text = str(err.value)
    assert f"{empty / WEIGHTS}" in text and "Lite V-19-slim-dw" in text  # the file, the row
    # At the line of the models entry.
    assert f"{path}:16: profiles.published.evaluate.models.0: weights file" in text
    bad = write_study(STUDY.format(weights=empty, model="centermask-lite_v2-19-sl1m"),
                      name="bad.yaml")
    with pytest.raises(StudyError) as err:
        plan_study(load_study(bad), "published", workspace=workspace, repo_root=REPO_ROOT)
    assert f"{bad}:16: profiles.published.evaluate.models.0.published: no model " \
           "'centermask-lite_v2-19-sl1m'" in str(err.value)


def test_conversion_is_cached_by_file_hash(tmp_path):
    from centermask_mm.converters.centermask2.core import sha256

    sha = sha256(FIXTURE)
    cache = tmp_path / "converted"
    # Two jobs (processes) converting the same file at once: each writes its own temporary
    # file and renames it; both get the complete file and no temporary file is left.
    # Spawned, not forked: a fork of this process (torch's thread pools, a Ray client left
    # by an earlier test) can deadlock in the child.
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.starmap(converted_checkpoint, [(FIXTURE, sha, cache, CONFIG)] * 2)
    assert [p for p, _ in results] == [cache / f"{sha[:16]}.pth"] * 2
    assert sorted(p.name for p in cache.iterdir()) == [f"{sha[:16]}.pth"]
    mtime = (cache / f"{sha[:16]}.pth").stat().st_mtime_ns
    assert converted_checkpoint(FIXTURE, sha, cache, CONFIG) == (
        cache / f"{sha[:16]}.pth", "cached")
    assert (cache / f"{sha[:16]}.pth").stat().st_mtime_ns == mtime  # not converted again
    # The converted file is an mmdet checkpoint: used as it is, never converted.
    converted = cache / f"{sha[:16]}.pth"
    assert is_mmdet_checkpoint(checkpoint_keys(converted))
    assert converted_checkpoint(converted, sha256(converted), tmp_path / "other", CONFIG) == (
        converted, "mmdet")
    assert not (tmp_path / "other").exists()


def test_evaluation_study_end_to_end(write_study, published, workspace, coco_toy, tmp_path,
                                     monkeypatch, capsys):
    """orchestrator run converts the stand-in published file, tests it on the CPU and
    logs like a trained job; a second job on the same file reuses the conversion;
    orchestrator table fills the row."""
    monkeypatch.setenv("CM_TOY_ROOT", str(coco_toy))
    path = _study(write_study, published)
    rc = main(["run", str(path), "--profile", "published", "--workspace", str(workspace),
               "--latency-images", "2"])
    out = capsys.readouterr().out
    logs = [p.read_text() for p in (workspace / "jobs").glob("*/worker.log")]
    assert rc == 0, out + "\n".join(log[-5000:] for log in logs)
    (log,) = logs
    assert f"weights {WEIGHTS}" in log and ": converted ->" in log

    client = MlflowClient(f"sqlite:///{workspace}/mlflow.db")
    exp = client.get_experiment_by_name("published-fixture")
    (run,) = client.search_runs([exp.experiment_id], "tags.`cm.role` = 'job'")
    tags, metrics = run.data.tags, run.data.metrics
    assert run.info.status == "FINISHED" and tags["cm.status"] == "succeeded"
    assert tags["cm.mode"] == "evaluate" and tags["cm.weights_file"] == WEIGHTS
    assert tags["cm.published_model"] == MODEL and tags["cm.weights_conversion"] == "converted"
    from centermask_mm.converters.centermask2.core import sha256

    sha = sha256(published / WEIGHTS)
    assert tags["cm.weights_sha256"] == sha and tags["cm.profile"] == "published"
    from orchestrator.study.evaluate import converter_fingerprint

    converter = converter_fingerprint(REPO_ROOT)
    assert [p.name for p in (workspace / "converted").iterdir()] == [
        f"{sha[:16]}-{converter[:8]}.pth"]
    for kind in ("bbox", "segm"):
        assert -1.0 <= metrics[f"test/coco/{kind}_mAP"] <= 1.0
    assert 5 < metrics["params_m"] < 20 and metrics["time_ms"] > 0
    assert not client.get_metric_history(run.info.run_id, "loss")  # nothing trained

    # A second evaluation job on the same file (another test subset): no conversion.
    second = path.read_text().replace("indices: 3", "indices: 1")
    path2 = write_study(second.replace("name: published-fixture", "name: published-two"),
                        name="two.yaml")
    assert main(["run", str(path2), "--profile", "published", "--workspace",
                 str(workspace), "--latency-images", "0"]) == 0
    capsys.readouterr()
    exp2 = client.get_experiment_by_name("published-two")
    (run2,) = client.search_runs([exp2.experiment_id], "tags.`cm.role` = 'job'")
    assert run2.data.tags["cm.weights_conversion"] == "cached"

    assert main(["table", str(path), "--profile", "published", "--workspace",
                 str(workspace), "--format", "md"]) == 0
    table = capsys.readouterr().out
    print(table)
    row = next(line for line in table.splitlines() if line.startswith("| Lite V-19-slim-dw"))
    assert "–" not in row.split("|")[2]  # params_m filled
    # The reference row is the published model's own AP from the metafile.
    assert "*27.1*" in table and "*29.5*" in table and "metafile.yml" in table


def test_evaluation_keeps_the_models_classes(write_study, published, workspace, tiny_toy,
                                             monkeypatch):
    """An 80-class published model on the 5-class toy set is a plan error (binding would
    cut its heads to 5 classes and the weights would not load)."""
    monkeypatch.setenv("CM_TOY_ROOT", str(tiny_toy))
    path = _study(write_study, published)
    with pytest.raises(StudyError) as err:
        plan_study(load_study(path), "published", workspace=workspace, repo_root=REPO_ROOT,
                   validate_build=False)
    assert "predicts [80] classes but the data set" in str(err.value)
    assert "--coco-categories" in str(err.value)


def test_evaluate_section_is_validated(write_study, published):
    text = STUDY.format(weights=published, model=MODEL).replace(
        "      weights_dir:", "      weight_dir: x\n      weights_dir:")
    with pytest.raises(StudyError) as err:
        load_study(write_study(text))
    assert "profiles.published.evaluate.weight_dir: unknown key 'weight_dir'" in str(err.value)
    text = STUDY.format(weights=published, model=MODEL).replace(
        f"published: {MODEL}}}", "weights: x.pth}")
    with pytest.raises(StudyError) as err:
        load_study(write_study(text, name="two.yaml"))
    assert "models.0: name a metafile model" in str(err.value)


def test_job_refuses_a_weights_file_changed_since_the_plan(tmp_path):
    from orchestrator.job.evaluate import run

    job = {"options": {"weights": str(FIXTURE), "weights_sha256": "0" * 64,
                       "cache_dir": str(tmp_path)}, "config": str(CONFIG),
           "work_dir": str(tmp_path)}
    with pytest.raises(RuntimeError, match="changed since the plan"):
        run(job)
    assert not list(tmp_path.iterdir())  # nothing converted


def test_evaluate_configs_and_patches_keep_the_trust_boundary(write_study, published, tmp_path,
                                                              workspace, coco_toy, monkeypatch):
    """An evaluation entry's config is Python like a study's base: one outside the
    repository's configs is refused at plan time (never executed), and so is a profile
    patch reaching outside the repository."""
    monkeypatch.setenv("CM_TOY_ROOT", str(coco_toy))
    monkeypatch.delenv("CM_ALLOW_OUTSIDE_CONFIGS", raising=False)
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.py"
    evil.write_text(f"open({str(marker)!r}, 'w').close()\n_base_ = {str(CONFIG)!r}\n")
    text = STUDY.format(weights=published, model=MODEL).replace(
        f"published: {MODEL}}}", f"weights: {WEIGHTS}, config: {evil}}}").replace(
        "      test_dataloader.num_workers: 0",
        f"      test_dataloader.num_workers: 0\n      load_from: {tmp_path / 'x.pth'}")
    path = write_study(text)
    with pytest.raises(StudyError) as err:
        plan_study(load_study(path), "published", workspace=workspace, repo_root=REPO_ROOT)
    message = str(err.value)
    assert "profiles.published.evaluate.models.0: untrusted config" in message
    assert "profiles.published.override.load_from" in message and "outside" in message
    assert not marker.exists()
