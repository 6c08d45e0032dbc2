"""``orchestrator trials``: what it says when nothing is to be shown, and a search whose
trials all scored the same (no best trial, no importances)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import optuna
import pytest

from orchestrator.cli import main
from orchestrator.search.planner import SearchPlan, plan_search
from orchestrator.search.report import best_trial, report
from orchestrator.search.space import make_storage
from orchestrator.study.reader import load_study
from orchestrator.testing.studies import fake_search_study
from orchestrator.workspace import REPO_ROOT

# The fake search with a second profile ``u`` (same budget).
STUDY = fake_search_study("zeros", n_trials=3, seed=0, epochs=1, step_s=0.01) + \
    "  u:\n    patch: {job_runner.epochs: 1}\n"


@pytest.fixture
def plan(write_study: Callable[..., Path], tmp_path: Path) -> tuple[Path, Path, SearchPlan]:
    path = write_study(STUDY)
    ws = tmp_path / "ws"
    sp = plan_search(load_study(path), "t", workspace=ws, repo_root=REPO_ROOT,
                     validate_build=False)
    return path, ws, sp


def _study_with(values: list[float], direction: str = "maximize") -> optuna.Study:
    study = optuna.create_study(direction=direction)
    dist = {"x": optuna.distributions.FloatDistribution(-1.0, 1.0)}
    for i, v in enumerate(values):
        study.add_trial(optuna.trial.create_trial(params={"x": -0.5 + 0.4 * i},
                                                  distributions=dist, value=v))
    return study


def test_all_zero_trials_name_no_best_and_no_importances(plan: tuple[Path, Path, SearchPlan]
                                                         ) -> None:
    _, _, sp = plan
    said: list[str] = []
    rep = report(sp, _study_with([0.0, 0.0, 0.0]), say=said.append)
    text = said[0]
    assert rep.get("best") is None and rep["importances"] == {}
    assert "No best trial: all 3 complete trials scored coco/segm_mAP = 0" in text
    assert "Parameter importances: undefined" in text
    assert "Best:" not in text and not (sp.folder / "best_config.py").exists()
    # With values that differ, the best is named and importances computed.
    rep = report(sp, _study_with([0.0, 0.2, 0.1]), say=said.append)
    assert rep["best"].number == 1 and "Best: trial 1" in said[-1]
    assert set(rep["importances"]) == {"x"} and (sp.folder / "best_config.py").exists()


def test_best_trial_rules() -> None:
    assert best_trial(_study_with([0.3])).value == 0.3
    assert best_trial(_study_with([0.1, 0.1])) is None
    assert best_trial(_study_with([0.1, 0.3, 0.2], "minimize")).value == 0.1
    assert best_trial(_study_with([])) is None


def test_trials_names_the_profiles_the_search_ran_under(
        plan: tuple[Path, Path, SearchPlan], capsys: pytest.CaptureFixture[str]) -> None:
    path, ws, sp = plan
    # Never run: says so, with the command that runs it (in this workspace).
    assert main(["--workspace", str(ws), "trials", str(path), "--profile", "u"]) == 1
    out = capsys.readouterr().out
    assert "has not run" in out and f"orchestrator run {path} --profile u --workspace {ws}" \
        in out
    # Run under profile t only: asking for u names t, and the command that shows it.
    optuna.create_study(study_name=sp.optuna_name, storage=make_storage(sp.storage_url),
                        direction="maximize")
    assert main(["--workspace", str(ws), "trials", str(path), "--profile", "u"]) == 1
    out = capsys.readouterr().out
    assert "no trials under profile 'u'" in out and "ran under profile t:" in out
    assert f"orchestrator trials {path} --profile t --workspace {ws}" in out


def test_dashboard_serves_the_search_storage(plan: tuple[Path, Path, SearchPlan],
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """``orchestrator dashboard`` starts optuna-dashboard on the search's storage, and it
    serves the study (its ``/api/studies`` lists it)."""
    pytest.importorskip("optuna_dashboard")
    import json
    import socket
    import subprocess
    import urllib.request

    from orchestrator.run.ui import _stop, wait_until_up

    path, ws, sp = plan
    Path(sp.storage_url.removeprefix("sqlite:///")).parent.mkdir(parents=True)
    optuna.create_study(study_name=sp.optuna_name, storage=make_storage(sp.storage_url),
                        direction="maximize")
    started: list[list[str]] = []
    monkeypatch.setattr("orchestrator.run.ui.serve_web_ui",
                        lambda what, argv, port, health, page, *a: started.append(
                            [*argv, health, page]) or 0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["--workspace", str(ws), "dashboard", str(path), "--profile", "t",
                 "--port", str(port)]) == 0
    assert "cm.mlflow_run" in capsys.readouterr().out
    (argv,) = started
    proc = subprocess.Popen(argv[:-2], start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        assert wait_until_up(base + argv[-2], proc, timeout_s=120)
        with urllib.request.urlopen(base + "/api/studies", timeout=10) as r:
            names = [s["study_name"] for s in json.load(r)["study_summaries"]]
        assert names == [sp.optuna_name]
    finally:
        _stop(proc)
