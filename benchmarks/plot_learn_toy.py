"""Plot "it learns" curves (``benchmarks/learn_toy.py``'s ``curve.json``) side by side.

Each curve is one model's evaluations during a wall-clock-budget run: training minutes
against segm and bbox mAP. Curves from separate runs can be combined, e.g. the README's::

    R=benchmarks/results/learn_toy_2threads
    .venv/bin/python benchmarks/plot_learn_toy.py \
        "CenterMask-Lite=${R}_centermask-lite_v2-19-slim_curve.json" \
        "SAIS=${R}_sais_v2-19-slim_curve.json" --out ${R}.png

Only compare curves measured on the same machine with the same thread count.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def load_curves(items: list[str]) -> dict[str, list[dict]]:
    """``NAME=PATH`` items -> {name: curve points}; errors name the item and file."""
    curves: dict[str, list[dict]] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"plot_learn_toy: expected NAME=CURVE_JSON, got {item!r}")
        try:
            points = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise SystemExit(f"plot_learn_toy: cannot read {path}: {exc}") from exc
        keys = ("train_s", "segm_mAP", "bbox_mAP")
        if not isinstance(points, list) or not points or not all(
                isinstance(p, dict) and all(k in p for k in keys) for p in points):
            raise SystemExit(f"plot_learn_toy: {path} is not a learn_toy curve.json "
                             f"(a non-empty list of points with {', '.join(keys)})")
        curves[name] = points
    return curves


def plot(curves: dict[str, list[dict]], out: Path, title: str = "",
         target: float | None = None) -> None:
    """Write a two-panel figure (segm, bbox mAP in % against training minutes) to ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    for ax, metric in zip(axes, ("segm_mAP", "bbox_mAP"), strict=True):
        for name, points in curves.items():
            xs = [0.0] + [p["train_s"] / 60 for p in points]
            ys = [0.0] + [100 * p[metric] for p in points]
            ax.plot(xs, ys, marker="o", label=name)
        if target is not None:
            ax.axhline(target, color="grey", linestyle="--", linewidth=1)
        ax.set_title(metric.replace("_", " "))
        ax.set_xlabel("training minutes")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mAP (%)")
    axes[1].legend(loc="lower right", fontsize=8)  # the bbox panel's corner is empty
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("curves", nargs="+", metavar="NAME=CURVE_JSON")
    p.add_argument("--out", required=True, help="output image (.png, .pdf, .svg)")
    p.add_argument("--title", default="")
    p.add_argument("--target", type=float, default=None,
                   help="draw a horizontal line at this mAP (%%)")
    args = p.parse_args(argv)
    plot(load_curves(args.curves), Path(args.out), args.title, args.target)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
