"""Helpers for the orchestrator tests: fake studies written into tmp dirs."""
from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from orchestrator.testing.studies import FAKE_CONFIG, SEARCH_FAKE_CONFIG, fake_search_study
from orchestrator.workspace import REPO_ROOT

__all__ = ["FAKE_CONFIG", "FIXTURES", "SEARCH_FAKE_CONFIG", "fake_search_study", "lr_study"]

FIXTURES = Path(__file__).parent / "fixtures"


def lr_study(name: str) -> str:
    """The head of a fake-job study ``name`` (no data) up to its first axis, ``lr``: levels
    ``high`` (the fake config's lr, ``{}``) and ``low`` (0.001). Block style, one key a line,
    so a test appends axes/seeds/profiles and edits it by text; its lines are 1-7."""
    return (f"name: {name}\nbase: {FAKE_CONFIG}\ndata: none\naxes:\n  lr:\n    high: {{}}\n"
            "    low: {optim_wrapper.optimizer.lr: 0.001}\n")


@pytest.fixture
def write_study(tmp_path: Path) -> Callable[..., Path]:
    """Write a study YAML (dedented) into tmp_path and return its path."""

    def write(text: str, name: str = "study.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    return write


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def ray_executor() -> Iterator[object]:
    """One local Ray (2 CPUs, at most 2 jobs in flight) for every Ray test (~3-10 s start)."""
    pytest.importorskip("ray")  # the optional [ray] extra
    from orchestrator.executors import make_executor

    ex = make_executor("ray", num_cpus=2, parallel=2)
    yield ex
    ex.shutdown()


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow SQLite store with its schema (creating one takes ~5-10 s)."""
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def workspace(tmp_path: Path, mlflow_template: Path) -> Path:
    """A fresh workspace whose MLflow store already has its schema."""
    ws = tmp_path / "ws"
    ws.mkdir()
    shutil.copy(mlflow_template, ws / "mlflow.db")
    return ws


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's MLflow server, workspace, toy set or COCO."""
    for name in ("MLFLOW_TRACKING_URI", "CM_WORKSPACE", "CM_TOY_ROOT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CM_COCO_ROOT", str(tmp_path / "no-coco"))
