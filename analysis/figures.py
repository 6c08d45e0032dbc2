"""Figure 1 of CenterMask: mask AP against inference time, one marker per backbone family.

Uses matplotlib's object API with the Agg canvas (no pyplot state, no display needed).
"""
from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from .tables import Table

#: Backbone families as data: (family, pattern over the backbone level or the row name).
#: Order matters: the first match wins (ResNeXt before ResNet, V2 before V1).
FAMILIES: list[tuple[str, str]] = [
    ("VoVNetV2", r"vovnet\s*-?v2|\bv2-\d+|\bv-\d+|\bvovnetv2"),
    ("VoVNetV1", r"vovnet\s*-?v1|\bv1-\d+|\bvovnet"),
    ("ResNeXt", r"resnext|\bx-\d+"),
    ("ResNet", r"resnet|\br-\d+"),
    ("HRNet", r"hrnet"),
    ("MobileNetV2", r"mobilenet|\bm-v2"),
    ("Hourglass", r"hourglass"),
]
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]


def backbone_family(name: str, levels: Mapping[str, str] | None = None,
                    family: str | None = None) -> str:
    """The backbone family of a row: explicit ``family``, else the ``backbone`` level, else
    the row name, matched against :data:`FAMILIES`; ``"other"`` when nothing matches."""
    if family:
        return family
    candidates = [(levels or {}).get("backbone", ""), name]
    for text in candidates:
        for fam, pattern in FAMILIES:
            if text and re.search(pattern, text, flags=re.IGNORECASE):
                return fam
    return "other"


@dataclass(frozen=True)
class Point:
    """One model in the figure (printed units: AP in %, time in ms)."""

    label: str
    family: str
    time_ms: float
    ap: float
    time_std: float | None = None
    ap_std: float | None = None
    paper: bool = False
    contended: bool = False  # time measured while the machine was busy (not comparable)


def figure_points(table: Table, *, paper: bool = True) -> list[Point]:
    """Points of a table that has ``segm_mAP`` and ``time_ms`` columns (ours, then paper)."""
    points = []
    for row in table.rows:
        fam = backbone_family(row.name, row.spec.levels, row.spec.family)
        ap, t = row.cells["segm_mAP"], row.cells["time_ms"]
        if ap.mean is not None and t.mean is not None:
            points.append(Point(row.name, fam, t.mean, ap.mean, t.std, ap.std,
                                contended=t.contended))
        if paper and isinstance(ap.paper, (int, float)) and isinstance(t.paper, (int, float)):
            points.append(Point(row.name, fam, float(t.paper), float(ap.paper), paper=True))
    return points


def paper_label(label: str) -> str:
    """A paper point's label: the source named, and the paper's "ours" (its authors' own
    run, e.g. "Mask R-CNN, ours") dropped so it cannot read as this project's measurement."""
    return re.sub(r",\s*ours\b", "", label).strip() + " [paper]"


#: Label positions tried around a point, in order: (dx, dy) in points, ha, va.
_LABEL_SPOTS = [(5, 3, "left", "bottom"), (5, -3, "left", "top"),
                (-5, 3, "right", "bottom"), (-5, -3, "right", "top"),
                (0, 6, "center", "bottom"), (0, -6, "center", "top")]


def _place_labels(fig: Figure, ax: Axes,
                  items: list[tuple[str, tuple[float, float], dict[str, Any]]]) -> None:
    """Annotate each point with its label at the first spot around it that stays inside
    the axes and overlaps no marker or label placed so far (else the least bad spot)."""
    fig.canvas.draw()  # fixes the layout, so extents below are final
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    box = ax.get_window_extent(renderer)
    r = 4 * fig.dpi / 72  # a marker's half-size in pixels
    taken = [Bbox.from_extents(x - r, y - r, x + r, y + r)
             for x, y in (ax.transData.transform(xy) for _, xy, _ in items)]
    for text, xy, style in items:
        best: tuple[int, Any, Bbox] | None = None
        for dx, dy, ha, va in _LABEL_SPOTS:
            ann = ax.annotate(text, xy, xytext=(dx, dy), textcoords="offset points", ha=ha,
                              va=va, **style)
            bb = ann.get_window_extent(renderer)
            outside = not (box.x0 <= bb.x0 and bb.x1 <= box.x1 and box.y0 <= bb.y0
                           and bb.y1 <= box.y1)
            cost = 100 * outside + sum(bb.overlaps(t) for t in taken)
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, ann, bb)
            else:
                ann.remove()
            if cost == 0:
                break
        assert best is not None
        taken.append(best[2])


def figure1(table: Table, *, paper: bool = True, time_hardware: str | None = None) -> Figure:
    """Draw Figure 1 from a table with ``segm_mAP`` and ``time_ms`` columns.

    Measured points are filled (with seed std as error bars), the paper's points hollow in the
    same family style. Rows without both numbers are left out and named in the title.

    Raises:
        ValueError: no point at all to draw.
    """
    points = figure_points(table, paper=paper)
    if not points:
        raise ValueError(f"study {table.study}: no row has both segm_mAP and time_ms (measured "
                         "or from the paper); nothing to plot")
    families = list(dict.fromkeys(p.family for p in points))
    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    colours = [f"C{i % 10}" for i in range(len(families))]
    style = {f: (colours[i], _MARKERS[i % len(_MARKERS)]) for i, f in enumerate(families)}
    point_labels: list[tuple[Point, bool]] = []  # (point, drawn as the paper's)
    for fam in families:
        colour, marker = style[fam]
        ours = [p for p in points if p.family == fam and not p.paper]
        theirs = [p for p in points if p.family == fam and p.paper]
        if ours:
            ax.errorbar([p.time_ms for p in ours], [p.ap for p in ours],
                        xerr=[p.time_std or 0.0 for p in ours],
                        yerr=[p.ap_std or 0.0 for p in ours], fmt=marker, color=colour,
                        markersize=7, capsize=2, linestyle="none", label=fam)
            point_labels += [(p, False) for p in ours]
        if theirs:
            ax.plot([p.time_ms for p in theirs], [p.ap for p in theirs], marker=marker,
                    linestyle="none", markerfacecolor="none", markeredgecolor=colour,
                    markersize=7, label=f"{fam} (paper)")
            measured = {p.label for p in ours}
            # A measured point of the same row carries the name.
            point_labels += [(p, True) for p in theirs if p.label not in measured]
    hw = f", {time_hardware}" if time_hardware else ""
    # A long hardware description wraps rather than running off the figure.
    busy = [p.label for p in points if p.contended]
    note = (f"; contended times (machine busy, not comparable): {', '.join(busy)}"
            if busy else "")
    ax.set_xlabel(textwrap.fill(f"Inference time (ms/image{hw}){note}", width=70))
    ax.set_ylabel("Mask AP (%)")
    missing = [r.name for r in table.rows
               if r.cells["segm_mAP"].mean is None or r.cells["time_ms"].mean is None]
    title = table.spec.title or table.study
    if missing and len(missing) == len(table.rows):
        title += "\n(nothing measured yet: the paper's points only)"
    elif missing:
        shown = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4
                                          else "")
        title += f"\n(no measured point: {shown})"
    ax.set_title(title, fontsize=9)
    ax.grid(True, alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: (labels[i].endswith("(paper)"), i))
    ax.legend([handles[i] for i in order], [labels[i] for i in order], fontsize=7, loc="best")
    # Room around the points for their labels, then the labels, inside the axes.
    ax.margins(x=0.12, y=0.08)
    _place_labels(fig, ax, [
        (paper_label(p.label), (p.time_ms, p.ap), dict(fontsize=6, color="0.4")) if is_paper
        else (p.label, (p.time_ms, p.ap), dict(fontsize=7)) for p, is_paper in point_labels])
    return fig


def save_figure(fig: Figure, prefix: str | Path) -> list[Path]:
    """Write ``<prefix>.png`` (150 dpi) and ``<prefix>.pdf``; returns both paths.

    The saved area is the figure's drawn extent (``bbox_inches="tight"``), point labels
    included, so nothing is cut at the edges.
    """
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    paths = [prefix.with_name(prefix.name + ".png"), prefix.with_name(prefix.name + ".pdf")]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight", pad_inches=0.05)
    fig.savefig(paths[1], bbox_inches="tight", pad_inches=0.05)
    return paths
