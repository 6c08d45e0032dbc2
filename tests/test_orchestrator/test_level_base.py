"""A level's ``_base_``: its combinations start from another config (e.g. Table 1's FCOS)."""
from __future__ import annotations

import pytest

from orchestrator.study.errors import StudyError
from orchestrator.study.plan import plan_study
from orchestrator.study.reader import load_study
from orchestrator.testing.studies import FAKE_CONFIG
from orchestrator.workspace import REPO_ROOT

LR05 = "orchestrator/testing/configs/fake_config_lr05.py"


def _plan(path, tmp_path):
    return plan_study(load_study(path), None, workspace=tmp_path / "ws", repo_root=REPO_ROOT,
                      validate_build=False)


def test_a_level_base_plans_the_job_of_that_config(write_study, tmp_path):
    with_level = _plan(write_study(f"""
        name: s
        base: {FAKE_CONFIG}
        data: none
        axes:
          a:
            base: {{}}
            other: {{_base_: {LR05}, train_cfg.max_epochs: 2}}
          b: {{x: {{}}, y: {{optim_wrapper.optimizer.momentum: 0.5}}}}
        profiles: {{p: {{patch: {{job_runner.step_s: 0.0}}}}}}
    """, "s.yaml"), tmp_path)
    direct = _plan(write_study(f"""
        name: s
        base: {LR05}
        data: none
        axes:
          b: {{x: {{}}, y: {{optim_wrapper.optimizer.momentum: 0.5}}}}
        profiles: {{p: {{patch: {{job_runner.step_s: 0.0, train_cfg.max_epochs: 2}}}}}}
    """, "direct.yaml"), tmp_path)
    ids = {j.levels["b"]: j.job_id for j in with_level.jobs if j.levels["a"] == "other"}
    assert ids == {j.levels["b"]: j.job_id for j in direct.jobs}
    other = next(j for j in with_level.jobs if j.levels == {"a": "other", "b": "x"})
    assert other.config["optim_wrapper"]["optimizer"]["lr"] == 0.5
    assert ("optim_wrapper", ) == tuple(k for k, _, _ in other.diff if k == "optim_wrapper")
    base = next(j for j in with_level.jobs if j.levels == {"a": "base", "b": "x"})
    assert base.config["optim_wrapper"]["optimizer"]["lr"] == 0.01


@pytest.mark.parametrize(("value", "message"), [
    ("3", "_base_ must be a config path"),
    ("/etc/passwd.py", "untrusted base"),
    ("configs/no_such_config.py", "cannot load config"),
])
def test_a_bad_level_base_is_a_problem_at_its_line(write_study, tmp_path, value, message):
    path = write_study(f"""
        name: s
        base: {FAKE_CONFIG}
        data: none
        axes:
          a:
            base: {{}}
            other:
              _base_: {value}
    """)
    with pytest.raises(StudyError) as err:
        _plan(path, tmp_path)
    (problem,) = err.value.problems
    assert problem.key == "axes.a.other._base_" and problem.line == 8
    assert message in problem.message


def test_two_level_bases_in_one_combination(write_study, tmp_path):
    with pytest.raises(StudyError, match="two _base_ configs"):
        _plan(write_study(f"""
            name: s
            base: {FAKE_CONFIG}
            data: none
            axes:
              a: {{x: {{}}, y: {{_base_: {LR05}}}}}
              b: {{x: {{}}, y: {{_base_: {LR05}, train_cfg.max_epochs: 2}}}}
        """), tmp_path)
