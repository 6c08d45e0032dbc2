"""The papers' effective batch (a profile's ``batch:``): parsing, planning, ``plan`` output."""
from __future__ import annotations

import pytest

from orchestrator.cli import main
from orchestrator.study.batch import BatchSpec, parse, plan_batch
from orchestrator.study.errors import StudyError
from orchestrator.study.plan import plan_study
from orchestrator.study.reader import load_study
from orchestrator.testing.studies import fake_study
from orchestrator.workspace import REPO_ROOT

PAPER = BatchSpec(world_size=8, images_per_gpu=2, rule="linear_lr")


def test_plan_batch_rules():
    full = plan_batch(PAPER, None)  # Slurm: the declared world size
    assert (full.world_size, full.effective_batch, full.lr_scale) == (8, 16, 1.0)
    assert full.warning() is None
    two = plan_batch(PAPER, 2)
    assert (two.world_size, two.effective_batch, two.lr_scale) == (2, 4, 0.25)
    assert two.patch()["auto_scale_lr"] == {"enable": True, "base_batch_size": 16}
    assert "only 2 GPU(s) are visible" in two.warning()
    cpu = plan_batch(PAPER, 0)
    assert cpu.world_size == 1 and "no GPU is visible" in cpu.warning()
    acc = plan_batch(BatchSpec(8, 2, "accumulate"), 2)
    assert (acc.accumulative_counts, acc.effective_batch, acc.lr_scale) == (4, 16, 1.0)
    assert acc.patch({})["+optim_wrapper.accumulative_counts"] == 4
    assert "4 steps per update" in acc.describe()
    with pytest.raises(ValueError, match="not a multiple"):
        plan_batch(BatchSpec(8, 2, "accumulate"), 3)


def test_parse_reports_each_bad_key():
    spec, problems = parse({"world_size": 8, "images_per_gpu": 2, "rule": "linear_lr"})
    assert spec == PAPER and not problems
    _, problems = parse({"world_size": 0, "images_per_gpu": "2", "rule": "sqrt", "x": 1})
    keys = sorted(p[0][0] for p in problems)
    assert keys == ["images_per_gpu", "rule", "world_size", "x"]


def batch_study(rule: str = "accumulate") -> str:
    """The paper's batch (8 GPUs x 2 images) under ``rule``, on a profile whose own patch
    asks for 4 images a batch."""
    return fake_study("batchy", axes={"lr": {"a": {}}}, profiles={"paper": {
        "batch": {"world_size": 8, "images_per_gpu": 2, "rule": rule},
        "patch": {"+train_dataloader": {"batch_size": 4}}}})


def test_planned_jobs_carry_the_batch_and_world_size_is_identity(write_study, tmp_path):
    study = load_study(write_study(batch_study()))
    plans = {g: plan_study(study, "paper", workspace=tmp_path, repo_root=REPO_ROOT,
                           validate_build=False, available_gpus=g) for g in (None, 2, 0)}
    (full,), (two,), (cpu,) = (plans[g].jobs for g in (None, 2, 0))
    assert full.config["train_dataloader"]["batch_size"] == 2  # images per GPU, not 4
    assert full.config["cm_batch"]["world_size"] == 8
    assert two.config["optim_wrapper"]["accumulative_counts"] == 4
    assert cpu.config["optim_wrapper"]["accumulative_counts"] == 8
    assert plans[None].profile.resources.gpus_per_job == 8.0
    assert plans[2].profile.resources.gpus_per_job == 2.0
    assert plans[0].profile.resources.gpus_per_job == 0.0  # the profile's, on CPUs
    assert len({full.job_id, two.job_id, cpu.job_id}) == 3  # another recipe, another job


def test_bad_batch_names_file_line_and_key(write_study):
    path = write_study(batch_study("sqrt"))
    with pytest.raises(StudyError) as err:
        load_study(path)
    assert f"{path}:" in str(err.value) and "profiles.paper.batch.rule" in str(err.value)


def test_plan_shows_world_size_and_effective_batch(write_study, tmp_path, capsys):
    path = write_study(batch_study())
    assert main(["plan", str(path), "--workspace", str(tmp_path / "ws"), "--gpus", "2"]) == 0
    out = capsys.readouterr().out
    assert "batch: world size 2 x 2 images/GPU x 4 accumulated = effective batch 16" in out
    assert "WARNING: the paper trains on 8 GPUs x 2 images = batch 16; only 2 GPU(s)" in out
    assert "2x2x4=16" in out  # the job's column
    assert main(["plan", str(path), "--workspace", str(tmp_path / "ws"),
                 "--executor", "slurm"]) == 0
    out = capsys.readouterr().out
    assert "8x2=16" in out and "WARNING" not in out
    assert "each job: 8 data-parallel GPU process(es)" in out


def test_every_paper_profile_declares_the_papers_batch():
    from orchestrator.workspace import find_study

    for name in ("table1", "table2", "table3", "table4", "table5", "centermask_lite",
                 "sais_table1", "sais_table2", "sais_table3", "sais_table4"):
        study = load_study(find_study(f"studies/{name}.yaml"))
        assert study.profiles["paper"].batch == PAPER, name
