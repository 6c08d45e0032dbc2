"""``centermask_mm.utils.build_runner``: the runner every entry point trains with."""
from __future__ import annotations

from pathlib import Path

import pytest
from mmdet.registry import RUNNERS
from mmengine.config import Config
from mmengine.runner import Runner

from centermask_mm.utils import build_runner

TINY = Path(__file__).resolve().parents[1] / "configs" / "mask-rcnn_tiny_toy.py"


@RUNNERS.register_module(force=True)
class _MarkedRunner(Runner):
    """A custom runner, as a config's ``runner_type`` may name."""


def _cfg(tmp_path: Path) -> Config:
    cfg = Config.fromfile(str(TINY))
    cfg.work_dir = str(tmp_path)
    return cfg


def test_plain_config_gets_mmengine_runner(tmp_path: Path) -> None:
    runner = build_runner(_cfg(tmp_path))
    assert type(runner) is Runner
    assert runner.work_dir == str(tmp_path)


def test_runner_type_is_honoured(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    cfg.runner_type = "_MarkedRunner"
    assert type(build_runner(cfg)) is _MarkedRunner


def test_unknown_runner_type_names_it(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    cfg.runner_type = "NoSuchRunner"
    with pytest.raises(KeyError, match="NoSuchRunner"):
        build_runner(cfg)
