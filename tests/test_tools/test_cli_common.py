"""tools/_cli_common.py: the flag handling tools/{train,test,demo,export_onnx}.py share."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The tools import it as a sibling module (their folder is sys.path[0] when they run).
if str(REPO / "tools") not in sys.path:
    sys.path.insert(0, str(REPO / "tools"))
import _cli_common  # noqa: E402


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tool")
    parser.add_argument("config")
    parser.add_argument("--work-dir")
    return parser


def test_runner_flags_are_parsed_and_local_rank_exported(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "bare.py"
    cfg.write_text("x = 1\n")
    # setenv records the variable (even when unset), so the "3" exported below is undone;
    # delenv then leaves it unset, as parse_runner_args only sets it when missing
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.delenv("LOCAL_RANK")
    args = _cli_common.parse_runner_args(_parser(), [
        str(cfg), "--cfg-options", "a.b=1", "c=x,y", "--launcher", "pytorch",
        "--local-rank", "3"])
    assert args.cfg_options == {"a.b": 1, "c": ["x", "y"]}
    assert (args.launcher, args.local_rank) == ("pytorch", 3)
    assert os.environ["LOCAL_RANK"] == "3"


def test_missing_config_is_a_usage_error(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        _cli_common.parse_runner_args(_parser(), [str(tmp_path / "nope.py")])
    assert exc.value.code == 2
    assert f"config file not found: {tmp_path / 'nope.py'}" in capsys.readouterr().err


def test_load_cfg_precedence_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "bare_config.py"
    path.write_text("x = 1\nwork_dir = 'from_file'\n")

    def load(work_dir: str | None, options: dict | None):
        return _cli_common.load_cfg(argparse.Namespace(
            config=str(path), launcher="none", work_dir=work_dir, cfg_options=options))

    cfg = load(None, {"x": 2})
    assert (cfg.x, cfg.work_dir, cfg.launcher) == (2, "from_file", "none")
    # A bare config (no mmdet default_runtime) still builds from mmdet's registries.
    assert cfg.default_scope == "mmdet"
    assert load(None, {"work_dir": "opt"}).work_dir == "opt"  # --cfg-options beat the file
    assert load("cli", {"work_dir": "opt"}).work_dir == "cli"  # --work-dir beats both
    assert load(None, {"work_dir": None}).work_dir == os.path.join("./work_dirs", "bare_config")


def test_key_value_options_read_values_like_dict_action() -> None:
    parsed = _cli_common.key_value_options(
        ["a=1", "b=0.5", "c=True", "d=None", "e=x,y", "f=[1,2]", "g=k=v"], "demo")
    assert parsed == {"a": 1, "b": 0.5, "c": True, "d": None, "e": ["x", "y"],
                      "f": [1, 2], "g": "k=v"}
    assert _cli_common.key_value_options([], "demo") == {}


def test_key_value_options_name_the_tool_and_the_item() -> None:
    with pytest.raises(SystemExit,
                       match="export_onnx: --cfg-options expects KEY=VALUE, got 'oops'"):
        _cli_common.key_value_options(["a=1", "oops"], "export_onnx")
