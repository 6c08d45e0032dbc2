"""Figure 1 from the fixture store."""
from __future__ import annotations

from pathlib import Path

import pytest

from analysis.cli import main
from analysis.figures import backbone_family, figure1, figure_points, paper_label, save_figure
from analysis.report import FIGURE_COLUMNS, study_table

from .fixture_store import FixtureStore


@pytest.mark.parametrize("name,levels,family", [
    ("VoVNetV1-39", {"backbone": "v1-39"}, "VoVNetV1"),
    ("+ eSE", {"backbone": "v2-39"}, "VoVNetV2"),
    ("CenterMask (V-99-FPN)", None, "VoVNetV2"),
    ("Mask R-CNN, ours (X-101-FPN)", None, "ResNeXt"),
    ("ResNet-101", None, "ResNet"),
    ("CenterMask-Lite (M-v2-FPN)", None, "MobileNetV2"),
    ("HRNetV2-W18", None, "HRNet"),
    ("something", None, "other"),
])
def test_backbone_family(name: str, levels: dict | None, family: str) -> None:
    assert backbone_family(name, levels) == family
    assert backbone_family(name, levels, family="Mine") == "Mine"


def test_figure_png_and_pdf(store: FixtureStore, tmp_path: Path) -> None:
    table, _ = study_table(store.study_path, tracking_uri=store.tracking_uri,
                           expected=store.expected, columns=FIGURE_COLUMNS)
    points = figure_points(table)
    ours = {p.label for p in points if not p.paper}
    assert ours == {"VoVNetV1-39", "+ eSE", "VoVNetV2-57"}  # + residual has no time
    assert {p.label for p in points if p.paper} >= {"VoVNetV1-39", "+ SE"}
    paths = save_figure(figure1(table, time_hardware="cpu"), tmp_path / "fig")
    png, pdf = paths
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert pdf.read_bytes()[:5] == b"%PDF-"


def test_figure_cli(store: FixtureStore, tmp_path: Path,
                    capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["figure", str(store.study_path), "--tracking-uri", store.tracking_uri,
               "--out", str(tmp_path / "f1"), "--no-staleness"])
    assert rc == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(tmp_path / "f1.png"), str(tmp_path / "f1.pdf")]
    assert (tmp_path / "f1.png").stat().st_size > 0


def test_paper_points_name_their_source() -> None:
    # The paper's "ours" is its authors' run, not this project's measurement.
    assert paper_label("Mask R-CNN, ours (X-101-FPN)") == "Mask R-CNN (X-101-FPN) [paper]"
    assert paper_label("+ SE") == "+ SE [paper]"


def test_figure_labels_stay_inside_the_axes(store: FixtureStore) -> None:
    table, _ = study_table(store.study_path, tracking_uri=store.tracking_uri,
                           expected=store.expected, columns=FIGURE_COLUMNS)
    hw = "AMD EPYC 7B13 (2 threads), torch 2.13 CPU; Intel Xeon Platinum 8480 (2 threads)"
    fig = figure1(table, time_hardware=hw)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    box = ax.get_window_extent(renderer)
    texts = {t.get_text(): t.get_window_extent(renderer) for t in ax.texts}
    # Measured points carry the row name; paper-only points name their source.
    assert {"VoVNetV1-39", "+ eSE", "VoVNetV2-57", "+ SE [paper]"} <= set(texts)
    for text, bb in texts.items():  # VoVNetV2-57 sits at the right edge of the data
        assert box.x0 <= bb.x0 and bb.x1 <= box.x1 and box.y0 <= bb.y0 and bb.y1 <= box.y1, \
            text
    fig_box = fig.bbox
    label = ax.xaxis.label.get_window_extent(renderer)
    assert "\n" in ax.get_xlabel() and fig_box.x0 <= label.x0 and label.x1 <= fig_box.x1
