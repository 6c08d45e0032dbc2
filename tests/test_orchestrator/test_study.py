"""Study files: every validation error names file, line and key; nothing is queued."""
from __future__ import annotations

import pytest

from orchestrator.study.errors import StudyError
from orchestrator.study.plan import plan_study
from orchestrator.study.reader import combinations, load_study, parse_study

from .conftest import FAKE_CONFIG, lr_study

GOOD = lr_study("s") + """  momentum:
    m9: {}
    m5: {optim_wrapper.optimizer.momentum: 0.5}
seeds: [0, 1]
"""


def rejected(write_study, text: str, tmp_path, repo_root, *, plan: bool = True) -> StudyError:
    """The StudyError raised for ``text`` (by parsing, or by planning when ``plan``)."""
    path = write_study(text)
    with pytest.raises(StudyError) as info:
        study = load_study(path)
        if plan:
            plan_study(study, None, workspace=tmp_path / "ws", repo_root=repo_root)
    return info.value


def only(err: StudyError) -> tuple[int, str, str]:
    assert len(err.problems) == 1, err
    p = err.problems[0]
    assert p.file.endswith("study.yaml")
    return p.line, p.key, p.message


def test_good_study_expands_product_with_seeds(write_study, tmp_path, repo_root):
    study = load_study(write_study(GOOD))
    assert [[lv.name for lv in c] for c in combinations(study)] == [
        ["high", "m9"], ["high", "m5"], ["low", "m9"], ["low", "m5"]]
    plan = plan_study(study, None, workspace=tmp_path / "ws", repo_root=repo_root)
    assert len(plan.jobs) == 8 and len({j.job_id for j in plan.jobs}) == 8
    low_m5 = [j for j in plan.jobs if j.levels == {"lr": "low", "momentum": "m5"}]
    assert sorted(j.seed for j in low_m5) == [0, 1]
    assert low_m5[0].diff == [("optim_wrapper.optimizer.lr", 0.01, 0.001),
                              ("optim_wrapper.optimizer.momentum", 0.9, 0.5)]
    assert low_m5[0].config["randomness"]["seed"] in (0, 1)


def test_unknown_top_level_key(write_study, tmp_path, repo_root):
    err = rejected(write_study, GOOD + "sedds: [3]\n", tmp_path, repo_root)
    line, key, msg = only(err)
    assert (line, key) == (12, "sedds") and "unknown key 'sedds'" in msg
    assert "study.yaml:12: sedds:" in str(err) and "nothing was queued" in str(err)


def test_patch_key_typo_suggests_the_real_key(write_study, tmp_path, repo_root):
    err = rejected(write_study, GOOD.replace("optimizer.lr: 0.001", "optimizer.lt: 0.001"),
                   tmp_path, repo_root)
    line, key, msg = only(err)
    assert line == 7 and key == "axes.lr.low.optim_wrapper.optimizer.lt"
    assert "no key" in msg and "did you mean 'lr'" in msg


def test_missing_intermediate_key(write_study, tmp_path, repo_root):
    err = rejected(write_study, GOOD.replace("optim_wrapper.optimizer.momentum",
                                             "optim_wrapper.optimiser.momentum"),
                   tmp_path, repo_root)
    line, key, msg = only(err)
    assert line == 10 and "optim_wrapper.optimiser does not exist" in msg
    assert "did you mean 'optimizer'" in msg


def test_plus_adds_a_key_and_rejects_existing(write_study, tmp_path, repo_root):
    text = GOOD.replace("m5: {optim_wrapper.optimizer.momentum: 0.5}",
                        "nesterov: {+optim_wrapper.optimizer.nesterov: true}")
    plan = plan_study(load_study(write_study(text)), None, workspace=tmp_path / "ws",
                      repo_root=repo_root)
    assert any(j.config["optim_wrapper"]["optimizer"].get("nesterov") for j in plan.jobs)
    err = rejected(write_study, GOOD.replace("{optim_wrapper.optimizer.lr: 0.001}",
                                             "{+optim_wrapper.optimizer.lr: 0.001}"),
                   tmp_path, repo_root)
    assert "already exists; drop the '+'" in only(err)[2]


def test_type_mismatch(write_study, tmp_path, repo_root):
    err = rejected(write_study, GOOD.replace("lr: 0.001", "lr: 'fast'"), tmp_path, repo_root)
    line, key, msg = only(err)
    assert line == 7 and key == "axes.lr.low.optim_wrapper.optimizer.lr"
    assert "type mismatch" in msg and "0.01 (number)" in msg and "'fast' (string)" in msg


def test_bool_is_not_a_number(write_study, tmp_path, repo_root):
    err = rejected(write_study, GOOD.replace("momentum: 0.5", "momentum: true"),
                   tmp_path, repo_root)
    assert "type mismatch" in only(err)[2]


def test_no_op_level(write_study, tmp_path, repo_root):
    err = rejected(write_study, GOOD.replace("lr: 0.001", "lr: 0.01"), tmp_path, repo_root)
    line, key, msg = only(err)
    assert (line, key) == (7, "axes.lr.low") and "no-op level" in msg


def test_twin_levels(write_study, tmp_path, repo_root):
    text = GOOD.replace("m9: {}", "m9: {optim_wrapper.optimizer.momentum: 0.5}")
    line, key, msg = only(rejected(write_study, text, tmp_path, repo_root))
    assert key == "axes.momentum.m5" and "same config as level 'm9'" in msg


def test_duplicate_level_names(write_study, tmp_path, repo_root):
    text = GOOD.replace("    m5:", "    m9:")
    line, key, msg = only(rejected(write_study, text, tmp_path, repo_root, plan=False))
    assert (line, key) == (10, "axes.momentum.m9") and "duplicate key (first at line 9)" in msg


def test_empty_axis_and_empty_axes(write_study, tmp_path, repo_root):
    text = GOOD.replace("  momentum:\n    m9: {}\n    m5: {optim_wrapper.optimizer.momentum: "
                        "0.5}\n", "  momentum: {}\n")
    line, key, msg = only(rejected(write_study, text, tmp_path, repo_root, plan=False))
    assert (line, key) == (8, "axes.momentum") and "at least one level" in msg
    text = f"name: s\nbase: {FAKE_CONFIG}\naxes: {{}}\n"
    line, key, msg = only(rejected(write_study, text, tmp_path, repo_root, plan=False))
    assert (line, key) == (3, "axes") and "empty" in msg


def test_model_that_fails_to_build(write_study, tmp_path, repo_root):
    text = GOOD.replace("seeds:", "  head:\n    ok: {}\n    broken: {model.type: NoSuchDetector}\n"
                        "seeds:")
    line, key, msg = only(rejected(write_study, text, tmp_path, repo_root))
    assert (line, key) == (13, "axes.head.broken") and "model fails to build" in msg
    assert "NoSuchDetector" in msg


def test_schema_errors_are_all_reported(write_study, tmp_path, repo_root):
    text = f"""
    name: s
    base: {FAKE_CONFIG}
    data: imagenet
    expand: zip
    axes:
      a: {{x: {{}}, y: {{train_cfg.max_epochs: 4}}}}
      b: {{"on": {{}}, off: {{optim_wrapper.optimizer.lr: 0.1}}, z: {{}}}}
    exclude:
      - {{a: w}}
    seeds: [1, 1]
    resources: {{gpus_per_job: 1.5}}
    default_profile: paper
    """
    err = rejected(write_study, text, tmp_path, repo_root, plan=False)
    text_err = str(err)
    for expected in ["study.yaml:3: data: 'imagenet' is not one of auto, coco, toy, none",
                     "study.yaml:7: axes.b.False: level name False was read by YAML",
                     "study.yaml:4: expand: expand: zip needs the same number of levels",
                     "study.yaml:9: exclude.0.a: axis 'a' has no level 'w'",
                     "study.yaml:10: seeds: duplicate seeds",
                     "study.yaml:11: resources.gpus_per_job: gpus_per_job must be",
                     "study.yaml:12: default_profile: no profile 'paper'"]:
        assert expected in text_err, text_err


def test_yaml_syntax_error_has_a_line(write_study, tmp_path, repo_root):
    line, key, msg = only(rejected(write_study, GOOD + "table: [unclosed\n", tmp_path,
                                   repo_root, plan=False))
    assert line >= 12 and "not valid YAML" in msg


def test_unknown_base_and_profile(write_study, tmp_path, repo_root):
    err = rejected(write_study, GOOD.replace(FAKE_CONFIG, "configs/nope.py"), tmp_path,
                   repo_root)
    line, key, msg = only(err)
    assert (line, key) == (2, "base") and "cannot load config" in msg
    study = load_study(write_study(GOOD))
    with pytest.raises(StudyError, match="no profile 'paper'"):
        plan_study(study, "paper", workspace=tmp_path / "ws", repo_root=repo_root)


def test_profile_patch_is_checked_and_applied(write_study, tmp_path, repo_root):
    text = GOOD + ("profiles:\n  quick:\n    patch: {train_cfg.max_epochs: 1}\n"
                   "  bad:\n    patch: {train_cfg.max_epoch: 1}\n")
    study = load_study(write_study(text))
    plan = plan_study(study, "quick", workspace=tmp_path / "ws", repo_root=repo_root)
    assert {j.config["train_cfg"]["max_epochs"] for j in plan.jobs} == {1}
    with pytest.raises(StudyError) as info:
        plan_study(study, "bad", workspace=tmp_path / "ws", repo_root=repo_root)
    line, key, msg = only(info.value)
    assert key == "profiles.bad.patch.train_cfg.max_epoch" and "did you mean 'max_epochs'" in msg


def test_rows_zip_and_exclude(write_study, tmp_path, repo_root):
    rows = GOOD + "expand: rows\nrows:\n  - {lr: low, momentum: m5}\n  - {lr: high, momentum: m9}\n"
    study = load_study(write_study(rows))
    assert [[lv.name for lv in c] for c in combinations(study)] == [["low", "m5"], ["high", "m9"]]
    bad_row = GOOD + "expand: rows\nrows:\n  - {lr: low}\n"
    line, key, msg = only(rejected(write_study, bad_row, tmp_path, repo_root, plan=False))
    assert key == "rows.0" and "missing ['momentum']" in msg
    zipped = load_study(write_study(GOOD + "expand: zip\n"))
    assert [[lv.name for lv in c] for c in combinations(zipped)] == [["high", "m9"],
                                                                     ["low", "m5"]]
    excl = load_study(write_study(GOOD + "exclude:\n  - {lr: low}\n"))
    assert [[lv.name for lv in c] for c in combinations(excl)] == [["high", "m9"],
                                                                   ["high", "m5"]]


def test_table_rows_must_name_real_levels(write_study, tmp_path, repo_root):
    text = GOOD + "table:\n  rows:\n    - {name: x, levels: {lr: medium}}\n"
    line, key, msg = only(rejected(write_study, text, tmp_path, repo_root, plan=False))
    assert key == "table.rows.0.levels.lr" and "no level 'medium'" in msg


def test_search_kind_is_not_expanded_here(write_study, tmp_path, repo_root):
    study = parse_study(GOOD + "kind: search\nsearch: {n_trials: 3}\n", "x.yaml")
    with pytest.raises(StudyError, match="no fixed job list"):
        combinations(study)
    with pytest.raises(StudyError, match="unknown key 'search'"):
        parse_study(GOOD + "search: {n_trials: 3}\n", "x.yaml")


def test_profile_override_applies_after_the_levels(write_study, tmp_path, repo_root):
    text = GOOD + ("profiles:\n  toy:\n    patch: {optim_wrapper.optimizer.lr: 0.5}\n"
                   "    override: {train_cfg.max_epochs: 1}\n"
                   "  flat:\n    override: {optim_wrapper.optimizer.momentum: 0.1}\n"
                   "  typo:\n    override: {optim_wrapper.optimizer.momentun: 0.1}\n")
    study = load_study(write_study(text))
    plan = plan_study(study, "toy", workspace=tmp_path / "ws", repo_root=repo_root)
    # The patch is under the levels (lr level 'low' wins), the override over them.
    assert {j.config["train_cfg"]["max_epochs"] for j in plan.jobs} == {1}
    assert {j.config["optim_wrapper"]["optimizer"]["lr"] for j in plan.jobs} == {0.5, 0.001}
    low_m5 = next(j for j in plan.jobs if j.levels == {"lr": "low", "momentum": "m5"})
    assert low_m5.diff == [("optim_wrapper.optimizer.lr", 0.5, 0.001),
                           ("optim_wrapper.optimizer.momentum", 0.9, 0.5)]
    # An override that undoes an axis makes rows that are one job: rejected.
    with pytest.raises(StudyError) as info:
        plan_study(study, "flat", workspace=tmp_path / "ws", repo_root=repo_root)
    assert "(lr=high, momentum=m9) and (lr=high, momentum=m5) resolve to the same config" in (
        str(info.value))
    with pytest.raises(StudyError) as info:
        plan_study(study, "typo", workspace=tmp_path / "ws", repo_root=repo_root)
    assert "profiles.typo.override.optim_wrapper.optimizer.momentun" in str(info.value)
