"""Issue 16: hostile or malformed study files are rejected before anything is queued,
quickly, with file:line (D9 value ranges, D10 bounded YAML, D12 capped problems, D15
non-UTF-8, D17 unknown tags)."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from orchestrator.study.errors import MAX_SHOWN, StudyError
from orchestrator.study.plan import plan_study
from orchestrator.study.reader import MAX_STUDY_BYTES, load_study, parse_study
from orchestrator.testing.studies import FAKE_CONFIG

HEAD = f"name: v\nbase: {FAKE_CONFIG}\ndata: none\n"
TOY = "configs/centermask/toy/centermask-lite_v2-19-slim-dw_fpn_toy.py"


def problems(text: str, file: str = "s.yaml") -> list[str]:
    with pytest.raises(StudyError) as exc:
        parse_study(text, file)
    return [str(p) for p in exc.value.problems]


def plan_problems(write_study, tmp_path, text: str) -> list[str]:
    with pytest.raises(StudyError) as exc:
        plan_study(load_study(write_study(text)), None, workspace=tmp_path / "ws",
                   repo_root=__import__("orchestrator.workspace").workspace.REPO_ROOT,
                   validate_build=False)
    return [str(p) for p in exc.value.problems]


# ------------------------------------------------------------------ D9: names and seeds

@pytest.mark.parametrize(("text", "line", "expect"), [
    (f"name: {'x' * 501}\nbase: {FAKE_CONFIG}\n", 1, "study name has 501 characters"),
    (f"name: ../escape\nbase: {FAKE_CONFIG}\n", 1, "study name '../escape' may use"),
    (HEAD + f"axes:\n  {'a' * 251}:\n    l: {{}}\n", 5, "axis name has 251 characters"),
    (HEAD + "axes:\n  'bad/axis':\n    l: {}\n", 5, "axis name 'bad/axis' may use"),
    (HEAD + "seeds: [0, -1]\n", 4, "seed -1 is outside 0..4294967295"),
    (HEAD + "seeds: [100000000000000000000000000000]\n", 4, "outside 0..4294967295"),
    (HEAD + "seeds: [1e29]\n", 4, "seeds must be a non-empty list of integers"),
    (HEAD + "retries: 1000\n", 4, "retries must be an integer in 0..100"),
    (HEAD + f"profiles:\n  {'p' * 41}: {{}}\n", 5, "profile name has 41 characters"),
])
def test_names_and_seeds_mlflow_and_numpy_refuse_are_rejected(text, line, expect):
    found = problems(text)
    assert any(f"s.yaml:{line}:" in p and expect in p for p in found), found


@pytest.mark.parametrize(("patch", "expect"), [
    ("train_cfg.max_epochs: .inf", "not a finite number"),
    ("train_cfg.max_epochs: 2.5", "the config has an integer (3); 2.5 is not one"),
    ("train_cfg.max_epochs: 0", "train_cfg.max_epochs = 0 must be an integer >= 1"),
    ("optim_wrapper.optimizer.lr: .nan", "not a finite number"),
    ("optim_wrapper.optimizer.lr: -0.1", "must be a finite number >= 0"),
])
def test_config_values_out_of_range_are_rejected_with_the_level_line(
        write_study, tmp_path, patch, expect):
    found = plan_problems(write_study, tmp_path,
                          HEAD + f"axes:\n  x:\n    base: {{}}\n    bad:\n      {patch}\n")
    assert any(":8:" in p and "axes.x.bad" in p and expect in p for p in found), found


def test_batch_size_zero_is_rejected(write_study, tmp_path):
    found = plan_problems(write_study, tmp_path,
                          f"name: b\nbase: {TOY}\ndata: none\nprofiles:\n  t:\n    patch:\n"
                          "      train_dataloader.batch_size: 0\n")
    assert any(":7:" in p and "train_dataloader.batch_size = 0 must be an integer >= 1" in p
               for p in found), found


# ------------------------------------------------------------------ D10: bounded YAML

def test_billion_laughs_is_rejected_quickly_without_memory(tmp_path):
    lol = "".join(f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n"
                  for p, c in zip("abcdefgh", "bcdefghi", strict=True))
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    found = problems(HEAD + "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + lol)
    assert time.perf_counter() - t0 < 10
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB
    assert any("values once YAML aliases (*name) are expanded" in p for p in found), found


def test_deep_nesting_and_big_files_are_rejected(tmp_path):
    assert any("nested deeper than" in p for p in problems(HEAD + "x: " + "[" * 5000))
    big = tmp_path / "big.yaml"
    big.write_text(HEAD + "description: '" + "x" * MAX_STUDY_BYTES + "'\n")
    with pytest.raises(StudyError, match="a study file is at most 1,048,576 bytes"):
        load_study(big)


# ------------------------------------------------------------------ D12: many problems

def test_many_bad_keys_are_fast_and_the_message_is_capped():
    text = HEAD + "".join(f"bad_key_{i}: {i}\n" for i in range(30_000))  # ~0.5 MB
    t0 = time.perf_counter()
    with pytest.raises(StudyError) as exc:
        parse_study(text, "s.yaml")
    assert time.perf_counter() - t0 < 15
    assert len(exc.value.problems) == 30_000
    lines = str(exc.value).splitlines()
    assert len(lines) == MAX_SHOWN + 2 and lines[-1] == f"  ... and {30_000 - MAX_SHOWN} " \
        "more problem(s)"
    assert "s.yaml:4: bad_key_0: unknown key" in lines[1]


# ------------------------------------------------------------------ D15, D17

def test_non_utf8_file_is_a_clear_error_naming_file_and_line(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(HEAD.encode() + "description: 'Gr\xfc\xdfe'\n".encode("latin-1"))
    with pytest.raises(StudyError) as exc:
        load_study(path)
    assert f"{path}:4: not UTF-8 text: byte 0xfc at line 4, column 17" in str(exc.value)
    # The command line reads the study's header first (search or ablation): the same error,
    # no traceback.
    for command in ("plan", "run"):
        proc = subprocess.run([sys.executable, "-m", "orchestrator.cli", command, str(path),
                               "--workspace", str(tmp_path / "ws")],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        assert "not UTF-8 text: byte 0xfc at line 4" in proc.stdout + proc.stderr


@pytest.mark.parametrize(("value", "tag"), [
    ("!!python/object/apply:os.system ['echo pwned']", "python/object/apply:os.system"),
    ("!!python/name:os.system", "python/name:os.system"),
    ("!!set {a, b}", "tag:yaml.org,2002:set"),
    ("!local {a: 1}", "!local"),
])
def test_unknown_tags_are_rejected_with_their_line(value, tag):
    found = problems(HEAD + f"description: {value}\n")
    assert any("s.yaml:4: description: YAML tag" in p and tag in p for p in found), found


def test_merge_keys_are_refused_not_dropped():
    found = problems(HEAD + "x: &x {a: 1}\nprofiles:\n  p:\n    <<: *x\n")
    assert any("merge keys (<<) are not supported" in p for p in found), found


# ------------------------------------------------------------------ annotations at plan time

@pytest.mark.parametrize("corrupt", ["category", "empty", "missing_image"])
def test_corrupt_annotations_are_rejected_at_plan_time_once_per_file(
        corrupt, write_study, tmp_path, tiny_toy, monkeypatch):
    import json
    import shutil

    from orchestrator.workspace import REPO_ROOT

    toy = tmp_path / "toy"
    shutil.copytree(tiny_toy, toy)
    ann = toy / "annotations" / "instances_train.json"
    coco = json.loads(ann.read_text())
    if corrupt == "category":
        coco["annotations"][2]["category_id"] = 999
        ann.write_text(json.dumps(coco))
        expect = "has unknown category_id 999"
    elif corrupt == "empty":
        ann.write_text("")
        expect = "annotation file is empty"
    else:
        (toy / "train" / coco["images"][0]["file_name"]).unlink()
        expect = "images[0]"
    monkeypatch.setenv("CM_TOY_ROOT", str(toy))
    study = load_study(write_study(f"name: ann\nbase: {TOY}\ndata: toy\n"))
    t0 = time.perf_counter()
    with pytest.raises(StudyError) as exc:
        plan_study(study, None, workspace=tmp_path / "ws", repo_root=REPO_ROOT,
                   validate_build=False)
    assert time.perf_counter() - t0 < 30
    (problem,) = exc.value.problems
    assert str(ann) in str(problem) or corrupt == "missing_image"
    assert "train annotations" in str(problem) and expect in str(problem), problem


def test_valid_annotations_are_checked_once_per_content(write_study, tmp_path, tiny_toy,
                                                        monkeypatch):
    from orchestrator.study import data
    from orchestrator.workspace import REPO_ROOT

    monkeypatch.setenv("CM_TOY_ROOT", str(tiny_toy))
    study = load_study(write_study(f"name: ann\nbase: {TOY}\ndata: toy\n"))
    plan_study(study, None, workspace=tmp_path / "ws", repo_root=REPO_ROOT,
               validate_build=False)
    calls = []
    real = data._coco_validation().validate_coco
    monkeypatch.setattr(data._coco_validation(), "validate_coco",
                        lambda *a: calls.append(a) or real(*a))
    plan_study(study, None, workspace=tmp_path / "ws", repo_root=REPO_ROOT,
               validate_build=False)
    assert calls == []  # cached by content hash in the workspace
