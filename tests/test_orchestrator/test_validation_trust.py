"""Issue 16 S1: a study file is data. Its base and patch values may not run or load code
from outside the repository's configs unless the user says so (--allow-outside-configs);
YAML configs are read with the safe loader."""
from __future__ import annotations

import pytest

from orchestrator.cli import main
from orchestrator.study.configs import ConfigLoadError, load_base
from orchestrator.study.errors import StudyError
from orchestrator.study.plan import plan_study
from orchestrator.study.reader import load_study
from orchestrator.study.trust import ENV, patch_trust_issues
from orchestrator.testing.studies import FAKE_CONFIG
from orchestrator.workspace import REPO_ROOT


def plan(write_study, tmp_path, text):
    return plan_study(load_study(write_study(text)), None, workspace=tmp_path / "ws",
                      repo_root=REPO_ROOT, validate_build=False)


def evil_config(tmp_path):
    marker = tmp_path / "ran"
    cfg = tmp_path / "evil.py"
    cfg.write_text(f"open({str(marker)!r}, 'w').write('x')\n"
                   + (REPO_ROOT / FAKE_CONFIG).read_text())
    return cfg, marker


def test_a_base_outside_the_configs_is_refused_and_never_runs(write_study, tmp_path, capsys,
                                                              monkeypatch):
    monkeypatch.setenv(ENV, "0")  # restored (unset) after the test, though main sets it
    cfg, marker = evil_config(tmp_path)
    study = write_study(f"name: evil\nbase: {cfg}\ndata: none\n")
    rc = main(["plan", str(study), "--workspace", str(tmp_path / "ws")])
    out = capsys.readouterr().out
    assert rc == 2 and "study.yaml:2: base: untrusted base" in out and "outside the " \
        "repository's configs" in out and "--allow-outside-configs" in out
    assert not marker.exists()  # the planner did not execute it

    rc = main(["plan", str(study), "--workspace", str(tmp_path / "ws"),
               "--allow-outside-configs"])
    assert rc == 0 and marker.exists()  # the user's explicit choice


def test_package_paths_may_not_escape_the_package(write_study, tmp_path):
    with pytest.raises(StudyError, match=r"leaves the package's configs \('\.\.'"):
        plan(write_study, tmp_path, "name: esc\nbase: mmdet::../../escape.py\ndata: none\n")


@pytest.mark.parametrize(("patch", "expect"), [
    ("+custom_imports: {imports: [os], allow_failed_imports: false}", "imports code"),
    ("+load_from: /etc/passwd", "points outside the repository"),
    ("+load_from: ../../outside.pth", "points outside the repository"),
    ("+load_from: https://example.com/x.pth", "only https://download.openmmlab.com/"),
])
def test_patch_values_that_load_code_are_refused(write_study, tmp_path, patch, expect):
    text = (f"name: p\nbase: {FAKE_CONFIG}\ndata: none\naxes:\n  x:\n    a: {{}}\n"
            f"    b: {{{patch}}}\n")
    with pytest.raises(StudyError) as exc:
        plan(write_study, tmp_path, text)
    assert any(":7:" in str(p) and expect in str(p) for p in exc.value.problems), \
        exc.value.problems


def test_trusted_urls_and_repo_paths_are_fine(write_study, tmp_path):
    url = "https://download.openmmlab.com/mmdetection/v2.0/x.pth"
    text = (f"name: ok\nbase: {FAKE_CONFIG}\ndata: none\naxes:\n  x:\n    a: {{}}\n"
            f"    b: {{+load_from: '{url}'}}\n    c: {{+load_from: {REPO_ROOT}/w.pth}}\n")
    assert len(plan(write_study, tmp_path, text).jobs) == 3


def test_yaml_configs_are_read_with_the_safe_loader(tmp_path):
    marker = tmp_path / "pwned"
    cfg = tmp_path / "base.yaml"
    cfg.write_text(f"model: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ConfigLoadError):
        load_base(cfg)
    assert not marker.exists()


def test_relative_paths_are_judged_from_the_repository_not_the_cwd(monkeypatch, tmp_path):
    """Jobs run in the repository, so ``../x`` leaves it wherever the planner was started."""
    deep = REPO_ROOT / "tests" / "test_orchestrator"
    monkeypatch.chdir(deep)  # from here '../../x' would land back inside the repository
    issues = patch_trust_issues({"+load_from": "../../outside.pth"}, REPO_ROOT)
    assert [i.key for i in issues] == ["+load_from"], issues
    assert not patch_trust_issues({"+load_from": "work_dirs/../w.pth"}, REPO_ROOT)
