"""MLflow runs that read well: run names, descriptions, source, data inputs, system metrics."""
from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from orchestrator.cli import main
from orchestrator.study.data import annotation_files
from orchestrator.study.identity import git_state
from orchestrator.study.plan import plan_study
from orchestrator.study.reader import load_study
from orchestrator.workspace import REPO_ROOT


@pytest.fixture
def study(tmp_path: Path) -> Path:
    """Two fake jobs whose config names annotation files (so they have data inputs)."""
    data = tmp_path / "data"
    data.mkdir()
    for split in ("train", "val"):
        (data / f"{split}.json").write_text(
            f'{{"images": [], "annotations": [], "categories": [], "info": "{split}"}}')
    config = tmp_path / "fake_with_data.py"
    config.write_text(textwrap.dedent(f"""
        _base_ = '{REPO_ROOT}/orchestrator/testing/configs/fake_config.py'
        train_dataloader = dict(dataset=dict(type='CocoDataset', data_root='{data}',
                                             ann_file='train.json'))
        test_dataloader = dict(dataset=dict(type='CocoDataset', data_root='{data}',
                                            ann_file='val.json'))
    """))
    path = tmp_path / "readable.yaml"
    path.write_text(textwrap.dedent(f"""
        name: readable
        description: "Readable runs: two learning rates"
        base: {config}
        data: none
        axes:
          lr:
            high: {{}}
            low: {{optim_wrapper.optimizer.lr: 0.001}}
        resources: {{gpus_per_job: 0, cpus_per_job: 1}}
        profiles:
          t:
            patch: {{job_runner.epochs: 2, job_runner.step_s: 0.4}}
    """))
    return path


def test_runs_read_well_in_mlflow(study: Path, tmp_path: Path, mlflow_template: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.tracking import MlflowClient

    ws = tmp_path / "ws"
    ws.mkdir()
    shutil.copy(mlflow_template, ws / "mlflow.db")
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.2")
    monkeypatch.setenv("CM_ALLOW_OUTSIDE_CONFIGS", "1")  # the config is in tmp_path
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    rc = main(["--workspace", str(ws), "run", str(study), "--parallel", "1",
               "--system-metrics", "--latency-images", "0"])
    assert rc == 0
    client = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}")
    exp = client.get_experiment_by_name("readable")
    # The study's description on the experiment; the classic (non-GenAI) view.
    assert exp.tags["mlflow.note.content"].startswith("Readable runs: two learning rates")
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    runs = client.search_runs([exp.experiment_id], "tags.`cm.role` = 'job'")
    assert sorted(r.info.run_name for r in runs) == ["high · seed 0", "low · seed 0"]
    commit = git_state(REPO_ROOT)[0]  # `git rev-parse HEAD` (or "unknown" outside git)
    plan = plan_study(load_study(study), "t", workspace=ws, repo_root=REPO_ROOT,
                      validate_build=False)
    for run in runs:
        tags = run.data.tags
        assert tags["mlflow.source.git.commit"] == commit
        assert tags["mlflow.source.name"] == str(study)  # outside the repository: as given
        job = plan.job(tags["cm.job_hash"])
        assert job is not None and job.name == run.info.run_name
        if job.levels["lr"] == "low":
            assert "`optim_wrapper.optimizer.lr`: `0.01` → `0.001`" in \
                tags["mlflow.note.content"]
        # One dataset input per split: the annotation file, digest from the data manifest.
        inputs = {i.tags[0].value: i.dataset for i in run.inputs.dataset_inputs}
        files = annotation_files(job.config)
        assert set(inputs) == {"train", "test"} == set(files)
        for split, dataset in inputs.items():
            assert dataset.digest == job.data_manifest["annotations"][split][:16]
            assert str(files[split]) in dataset.source
        # System metrics were sampled while the job ran.
        assert any(k.startswith("system/") for k in run.data.metrics), run.data.metrics
    parent = client.search_runs([exp.experiment_id], "tags.`cm.role` = 'study'")[0]
    assert parent.info.run_name == "readable [t]"
    assert parent.data.tags["mlflow.source.git.commit"] == commit


@pytest.mark.slow  # a whole run of 4 jobs with tracking; test_overrides.py is the fast check
def test_a_sweep_is_an_adhoc_study_in_the_same_queue_and_mlflow(
        study: Path, tmp_path: Path, mlflow_template: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.tracking import MlflowClient

    from orchestrator.queue import SqliteQueue

    ws = tmp_path / "ws"
    ws.mkdir()
    shutil.copy(mlflow_template, ws / "mlflow.db")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("CM_ALLOW_OUTSIDE_CONFIGS", "1")  # the config is in tmp_path
    argv = ["--workspace", str(ws), "run", str(study), "--parallel", "1", "--latency-images",
            "0", "--set", "job_runner.step_s=0.01", "--sweep",
            "optim_wrapper.optimizer.momentum=0.8,0.9"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    name = out.split("study ", 1)[1].split(" ", 1)[0]
    assert name.startswith("readable+") and len(name) == len("readable+") + 6
    assert f"see: orchestrator status {name} --workspace {ws}" in out
    jobs = SqliteQueue(ws / "queue.db").jobs(name)
    assert len(jobs) == 4 and {j.state for j in jobs} == {"succeeded"}
    client = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}")
    exp = client.get_experiment_by_name(name)
    assert "[ad-hoc: --set job_runner.step_s=0.01 --sweep optim_wrapper.optimizer.momentum=" \
           "0.8,0.9]" in exp.tags["mlflow.note.content"]
    runs = client.search_runs([exp.experiment_id], "tags.`cm.role` = 'job'")
    assert sorted(r.info.run_name for r in runs) == [
        "high · momentum=0.8 · seed 0", "high · momentum=0.9 · seed 0",
        "low · momentum=0.8 · seed 0", "low · momentum=0.9 · seed 0"]
    # The same command line again: the same study, nothing to do.
    assert main(argv) == 0
    assert "nothing to do: all 4 job(s) already finished" in capsys.readouterr().out
