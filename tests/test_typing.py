"""orchestrator/ and analysis/ type-check under the mypy settings in pyproject.toml."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_platform_packages_type_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    api = pytest.importorskip("mypy.api")  # the [dev] extra
    monkeypatch.chdir(REPO)  # the config's `files` are repo-relative
    out, err, status = api.run(["--config-file", str(REPO / "pyproject.toml"),
                                "--cache-dir", str(tmp_path / "mypy_cache")])
    assert status == 0, out + err
