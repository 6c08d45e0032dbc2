"""``--set`` and ``--sweep``: validated like study patches, part of job identity."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.cli import main
from orchestrator.study.errors import StudyError
from orchestrator.study.overrides import apply_overrides, parse_overrides
from orchestrator.study.plan import plan_study
from orchestrator.study.reader import load_study
from orchestrator.workspace import REPO_ROOT

from .conftest import lr_study

STUDY = lr_study("ov") + """seeds: [0, 1]
profiles:
  t:
    patch: {job_runner.step_s: 0.01}
"""


def _plan(path: Path, ws: Path, sets: tuple[str, ...] = (), sweeps: tuple[str, ...] = ()
          ) -> object:
    study = apply_overrides(load_study(path), None, parse_overrides(sets, sweeps))
    return plan_study(study, None, workspace=ws, repo_root=REPO_ROOT, validate_build=False)


@pytest.fixture
def study(write_study: Callable[..., Path]) -> Path:
    return write_study(STUDY)


def _problems(fn: Callable[[], object]) -> list[str]:
    with pytest.raises(StudyError) as err:
        fn()
    return [str(p) for p in err.value.problems]


def test_bad_set_key_reads_like_a_bad_patch(study: Path, write_study: Callable[..., Path],
                                            tmp_path: Path, repo_root: Path) -> None:
    # The same typo in the study file's profile override ...
    in_file = write_study(STUDY.replace("patch: {job_runner.step_s: 0.01}",
                                        "patch: {job_runner.step_s: 0.01}\n"
                                        "    override: {optim_wrapper.optimizer.lrr: 0.1}"),
                          "in_file.yaml")
    (file_problem,) = _problems(lambda: plan_study(load_study(in_file), None,
                                                   workspace=tmp_path, repo_root=repo_root,
                                                   validate_build=False))
    # ... and on the command line: the same message, the option in place of file:line: key.
    (cli_problem,) = _problems(lambda: _plan(study, tmp_path, ("optim_wrapper.optimizer.lrr=0.1",)))
    message = file_problem.split(": ", 2)[2]
    assert "did you mean 'lr'" in message
    assert cli_problem == f"command line: --set optim_wrapper.optimizer.lrr=0.1: {message}"


def test_set_type_mismatch_and_malformed_options(study: Path, tmp_path: Path) -> None:
    (p,) = _problems(lambda: _plan(study, tmp_path, ("train_cfg.max_epochs=many",)))
    assert p.startswith("command line: --set train_cfg.max_epochs=many: type mismatch")
    problems = _problems(lambda: parse_overrides(["lr"], ["a.b=1", "=3,4"]))
    assert problems == [
        "command line: --set lr: expected KEY=VALUE (e.g. optim_wrapper.optimizer.lr=0.01)",
        "command line: --sweep a.b=1: a sweep needs two or more comma-separated values "
        "(use --set for one)",
        "command line: --sweep =3,4: expected KEY=VALUE,... (e.g. "
        "optim_wrapper.optimizer.lr=0.01)"]
    (p,) = _problems(lambda: parse_overrides(["a.b=1"], ["a.b=1,2"]))
    assert "a.b is also given" in p


def test_set_changes_job_ids_and_names_a_stable_adhoc_study(study: Path, tmp_path: Path
                                                            ) -> None:
    plain = _plan(study, tmp_path)
    one = _plan(study, tmp_path, ("train_cfg.max_epochs=5", "job_runner.epochs=5"))
    again = _plan(study, tmp_path, ("job_runner.epochs=5", "train_cfg.max_epochs=5"))
    other = _plan(study, tmp_path, ("train_cfg.max_epochs=7",))
    ids = [{j.job_id for j in p.jobs} for p in (plain, one, again, other)]  # type: ignore[attr-defined]
    assert len(ids[0]) == len(ids[1]) == 4
    assert ids[0].isdisjoint(ids[1]) and ids[1] == ids[2] and ids[1].isdisjoint(ids[3])
    assert one.study.name == again.study.name != other.study.name  # type: ignore[attr-defined]
    assert one.study.name.startswith("ov+") and len(one.study.name) == 9  # type: ignore[attr-defined]
    assert all(j.config["train_cfg"]["max_epochs"] == 5 for j in one.jobs)  # type: ignore[attr-defined]
    # YAML values: a float written 1e-3 stays a float.
    lr = _plan(study, tmp_path, ("optim_wrapper.optimizer.momentum=1e-3",))
    assert lr.jobs[0].config["optim_wrapper"]["optimizer"]["momentum"] == 0.001  # type: ignore[attr-defined]


def test_sweep_makes_one_job_per_value(study: Path, tmp_path: Path) -> None:
    # 2 lr levels x 3 momentum values x 2 seeds; the base's own value (0.9) is allowed.
    plan = _plan(study, tmp_path, sweeps=("optim_wrapper.optimizer.momentum=0.8,0.9,0.95",))
    jobs = plan.jobs  # type: ignore[attr-defined]
    assert len(jobs) == 12 and len({j.job_id for j in jobs}) == 12
    momenta = sorted({j.config["optim_wrapper"]["optimizer"]["momentum"] for j in jobs})
    assert momenta == [0.8, 0.9, 0.95]
    assert {j.levels["optim_wrapper.optimizer.momentum"] for j in jobs} == {
        "momentum=0.8", "momentum=0.9", "momentum=0.95"}
    assert "momentum=0.95" in jobs[-1].name
    # A bad sweep value reads like a bad level.
    (p,) = _problems(lambda: _plan(study, tmp_path, sweeps=("train_cfg.max_epochs=2,x",)))
    assert p.startswith("command line: --sweep train_cfg.max_epochs=2,x: type mismatch")


def test_cli_rejects_a_bad_override_before_queueing(study: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    ws = tmp_path / "ws"
    rc = main(["--workspace", str(ws), "run", str(study), "--set", "model.nope=1"])
    out = capsys.readouterr().out
    assert rc == 2 and "command line: --set model.nope=1: no key 'model.nope'" in out
    assert not (ws / "queue.db").exists() or "ov" not in out.split("rejected")[-1]
    rc = main(["--workspace", str(ws), "plan", str(study), "--sweep",
               "optim_wrapper.optimizer.momentum=0.8,0.95"])
    out = capsys.readouterr().out
    assert rc == 0 and "8 job(s)" in out and "momentum=0.95" in out
