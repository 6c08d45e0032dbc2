"""``benchmarks/plot_learn_toy.py``: combining learn_toy curves into one figure."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "_plot_learn_toy", REPO / "benchmarks" / "plot_learn_toy.py")
assert _spec is not None and _spec.loader is not None
plot_learn_toy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(plot_learn_toy)

CURVE = [dict(train_s=180.0, iters=300, bbox_mAP=0.06, segm_mAP=0.04),
         dict(train_s=360.0, iters=600, bbox_mAP=0.14, segm_mAP=0.10)]


def _write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_plots_every_curve(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.json", CURVE)
    b = _write(tmp_path / "b.json", CURVE[:1])
    out = tmp_path / "fig" / "curves.png"
    assert plot_learn_toy.main([f"A={a}", f"B={b}", "--out", str(out), "--target", "20"]) == 0
    with Image.open(out) as img:
        assert img.format == "PNG" and img.width > 500


def test_results_curves_in_repo_are_readable() -> None:
    """The curves the README's figure is drawn from load (names and schema)."""
    paths = sorted((REPO / "benchmarks" / "results").glob("learn_toy_2threads_*_curve.json"))
    assert len(paths) >= 3
    curves = plot_learn_toy.load_curves([f"{p.stem}={p}" for p in paths])
    for points in curves.values():
        assert [p["train_s"] for p in points] == sorted(p["train_s"] for p in points)


@pytest.mark.parametrize("make, message", [
    (lambda d: "no-equals-sign", "expected NAME=CURVE_JSON"),
    (lambda d: f"A={d / 'missing.json'}", "cannot read"),
    (lambda d: f"A={_write(d / 'bad.json', dict(x=1))}", "is not a learn_toy curve.json"),
    (lambda d: f"A={_write(d / 'empty.json', [])}", "is not a learn_toy curve.json"),
    (lambda d: f"A={_write(d / 'partial.json', [dict(train_s=1)])}", "segm_mAP"),
])
def test_bad_curve_arguments_are_named(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(SystemExit, match=message):
        plot_learn_toy.load_curves([make(tmp_path)])
