from __future__ import annotations

import pytest

from .fixture_store import FixtureStore, build_fixture_store


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> FixtureStore:
    """The fixture MLflow store, built once per session (a few seconds)."""
    return build_fixture_store(tmp_path_factory.mktemp("analysis_store"))
