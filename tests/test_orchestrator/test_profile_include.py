"""Shared profiles: ``profiles.P.include: <name>`` merges ``experiments/profiles/<name>.yaml``."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchestrator.study import profiles
from orchestrator.study.errors import StudyError
from orchestrator.study.plan import plan_study
from orchestrator.study.reader import load_study
from orchestrator.workspace import REPO_ROOT

STUDIES = REPO_ROOT / "experiments" / "studies"


def _inlined(study_file: Path, profile: str) -> dict:
    """The study's raw YAML with ``profile``'s includes pasted in by hand: the files' keys
    first, in order, then the profile's own (``patch``/``override``/``resources`` merged key
    by key) -- what the study said before it included anything."""
    raw = yaml.safe_load(study_file.read_text())
    own = raw["profiles"][profile]
    names = own.pop("include")
    pasted: dict = {}
    for name in [names] if isinstance(names, str) else names:
        shared = yaml.safe_load((REPO_ROOT / "experiments/profiles" / f"{name}.yaml").read_text())
        for key, value in shared.items():
            pasted[key] = {**pasted.get(key, {}), **value} if isinstance(value, dict) else value
    for key, value in own.items():
        pasted[key] = ({**pasted[key], **value} if isinstance(value, dict)
                       and isinstance(pasted.get(key), dict) else value)
    raw["profiles"][profile] = pasted
    return raw


@pytest.mark.parametrize("study", ["centermask_table1.yaml", "sais_table4.yaml"])
def test_included_profile_plans_the_jobs_of_the_inlined_one(study, tmp_path):
    """A study that includes shared profile files plans the same job ids (the same resolved
    configs) as the same study with the files' keys pasted into the profile."""
    path = STUDIES / study
    assert "include" in yaml.safe_load(path.read_text())["profiles"]["toy"]
    inlined = tmp_path / study
    inlined.write_text(yaml.safe_dump(_inlined(path, "toy"), sort_keys=False))

    def ids(p: Path) -> dict:
        plan = plan_study(load_study(p), "toy", workspace=tmp_path / "ws", repo_root=REPO_ROOT,
                          validate_build=False)
        return {j.name: j.job_id for j in plan.jobs}

    with_include = ids(path)
    assert with_include and with_include == ids(inlined)
    # The include did something: without it the profile is a different one.
    bare = yaml.safe_load(path.read_text())
    del bare["profiles"]["toy"]["include"]
    (tmp_path / "bare.yaml").write_text(yaml.safe_dump(bare, sort_keys=False))
    assert load_study(tmp_path / "bare.yaml").profile("toy").override != \
        load_study(path).profile("toy").override


def test_profile_keys_win_and_sections_merge_key_by_key(write_study, tmp_path, monkeypatch):
    monkeypatch.setattr(profiles, "PROFILES_DIR", tmp_path / "profiles")
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "a.yaml").write_text(
        "data: toy\nseeds: [1, 2]\nresources: {gpus_per_job: 0.5, cpus_per_job: 2}\n"
        "override: {x.y: 1, x.z: 2}\n")
    (tmp_path / "profiles" / "b.yaml").write_text("override: {x.z: 3}\n")
    study = load_study(write_study("""
        name: s
        base: configs/x.py
        profiles:
          p:
            include: [a, b]
            seeds: [7]
            resources: {cpus_per_job: 4}
            override: {x.w: 5}
    """))
    p = study.profile("p")
    assert p.data == "toy" and p.seeds == (7,)
    assert (p.resources.gpus_per_job, p.resources.cpus_per_job) == (0.5, 4)
    assert dict(p.override) == {"x.y": 1, "x.z": 3, "x.w": 5}


def test_bad_includes_name_the_file_and_line(write_study, tmp_path, monkeypatch):
    monkeypatch.setattr(profiles, "PROFILES_DIR", tmp_path / "profiles")
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "bad.yaml").write_text("data: toy\nbogus: 1\n")
    path = write_study("""
        name: s
        base: configs/x.py
        profiles:
          p: {include: ../studies/other}
          q: {include: missing}
          r: {include: bad}
    """)
    with pytest.raises(StudyError) as err:
        load_study(path)
    problems = {(pr.file, pr.line, pr.key): pr.message for pr in err.value.problems}
    assert "no path" in problems[(str(path), 4, "profiles.p.include")]
    assert "no shared profile 'missing'" in problems[(str(path), 5, "profiles.q.include")]
    assert "unknown key 'bogus'" in problems[(str(tmp_path / "profiles/bad.yaml"), 2, "bogus")]


def test_a_problem_in_an_included_patch_names_the_included_file(write_study, tmp_path,
                                                                 monkeypatch):
    monkeypatch.setattr(profiles, "PROFILES_DIR", tmp_path / "profiles")
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "typo.yaml").write_text("override:\n  model.no_such_key: 1\n")
    study = load_study(write_study("""
        name: s
        base: orchestrator/testing/configs/fake_config.py
        data: none
        profiles:
          p: {include: typo}
    """))
    with pytest.raises(StudyError) as err:
        plan_study(study, "p", workspace=tmp_path / "ws", repo_root=REPO_ROOT,
                   validate_build=False)
    (problem,) = err.value.problems
    assert (problem.file, problem.line) == (str(tmp_path / "profiles/typo.yaml"), 2)
    assert problem.key == "profiles.p.override.model.no_such_key"
