"""``?key`` patch keys: set where the configuration has the key, skipped where it does not."""
from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.study.configs import apply_patch, get_path
from orchestrator.study.errors import StudyError
from orchestrator.study.plan import plan_study
from orchestrator.study.reader import load_study

from .conftest import FAKE_CONFIG

# The "adam" level replaces the optimizer with one that has no momentum.
STUDY = f"""
name: where-present
base: {FAKE_CONFIG}
data: none
axes:
  opt:
    sgd: {{}}
    adam: {{optim_wrapper.optimizer: {{_delete_: true, type: Adam, lr: 0.001}}}}
seeds: [0]
profiles:
  quick:
    override:
      {{override}}
default_profile: quick
"""


def _plan(write_study, tmp_path: Path, repo_root: Path, override: str):
    path = write_study(STUDY.replace("{override}", override))
    return plan_study(load_study(path), None, workspace=tmp_path / "ws", repo_root=repo_root,
                      validate_build=False)


def test_apply_patch_skips_a_missing_where_present_key() -> None:
    tree = {"a": {"b": 1}, "c": [1, 2]}
    out, issues = apply_patch(tree, {"?a.b": 2, "?a.x": 3, "?missing.deep.key": 4})
    assert issues == [] and out == {"a": {"b": 2}, "c": [1, 2]}
    # Present keys keep every other check: the value's type must match.
    _, issues = apply_patch(tree, {"?a.b": "two"})
    assert [i.key for i in issues] == ["?a.b"] and "type mismatch" in issues[0].message
    # A path through a leaf is still an error, not a silent skip.
    _, issues = apply_patch(tree, {"?a.b.c": 1})
    assert len(issues) == 1 and "is not a mapping or list" in issues[0].message
    assert get_path(tree, "?a.b") == (True, 1)


def test_override_sets_the_key_only_where_it_exists(write_study, tmp_path, repo_root) -> None:
    plan = _plan(write_study, tmp_path, repo_root, "?optim_wrapper.optimizer.momentum: 0.95")
    by_level = {job.levels["opt"]: job.config["optim_wrapper"]["optimizer"] for job in plan.jobs}
    assert by_level["sgd"]["momentum"] == 0.95
    assert "momentum" not in by_level["adam"] and by_level["adam"]["type"] == "Adam"


def test_where_present_key_that_applies_nowhere_is_an_error(write_study, tmp_path,
                                                            repo_root) -> None:
    with pytest.raises(StudyError) as e:
        _plan(write_study, tmp_path, repo_root, "?optim_wrapper.optimizer.momentm: 0.95")
    msg = str(e.value)
    assert "study.yaml:12: profiles.quick.override.?optim_wrapper" in msg  # its line
    assert "'?optim_wrapper.optimizer.momentm' is in none of the configurations" in msg


def test_level_with_a_key_only_other_levels_bring_is_not_a_no_op(write_study, tmp_path,
                                                                repo_root) -> None:
    text = f"""
    name: where-present-level
    base: {FAKE_CONFIG}
    data: none
    axes:
      opt:
        sgd: {{}}
        adam:
          optim_wrapper.optimizer: {{_delete_: true, type: Adam, lr: 0.001, betas: [0.9, 0.99]}}
      beta:
        default: {{}}
        slow: {{"?optim_wrapper.optimizer.betas": [0.5, 0.9]}}
    exclude:
      - {{opt: sgd, beta: slow}}              # SGD has no betas: that job would be sgd's twin
    seeds: [0]
    """
    plan = plan_study(load_study(write_study(text)), None, workspace=tmp_path / "ws",
                      repo_root=repo_root, validate_build=False)
    got = {(j.levels["opt"], j.levels["beta"]): j.config["optim_wrapper"]["optimizer"]
           for j in plan.jobs}
    assert list(got[("adam", "slow")]["betas"]) == [0.5, 0.9]
    assert list(got[("adam", "default")]["betas"]) == [0.9, 0.99]
    assert ("sgd", "slow") not in got and "betas" not in got[("sgd", "default")]


def test_unquoted_where_present_key_in_a_flow_mapping_is_named(write_study) -> None:
    # YAML reads '{?key: v}' as an explicit key 'key': the marker would vanish silently.
    text = f"""
    name: flow
    base: {FAKE_CONFIG}
    data: none
    axes:
      opt:
        sgd: {{}}
        fast: {{?optim_wrapper.optimizer.lr: 0.1}}
    """
    with pytest.raises(StudyError) as e:
        load_study(write_study(text))
    msg = str(e.value)
    assert "study.yaml:7" in msg and "YAML dropped the '?' of '?optim_wrapper.optimizer.lr'" in msg
