"""Shared fixtures: the synthetic toy set (generated once per session) and device marks."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from centermask_mm.datasets.toy import ToySpec, ensure

# A small toy set shared by the training smoke tests: 128 px keeps CPU steps fast.
TINY_TOY = ToySpec(num_train=8, num_val=4, height=128, width=128, max_objects=4, seed=0)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA (torch.cuda.is_available() is false)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Root of a tiny toy data set (8 train / 4 val images, 128x128)."""
    return ensure(tmp_path_factory.mktemp("toy"), TINY_TOY)
