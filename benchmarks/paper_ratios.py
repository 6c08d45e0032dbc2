"""The CenterMask paper's speed claims as latency ratios, measured in one process and one run.

Ratios (issue 9, perf-anchors §10), all at batch 1 with the fixed detection count:

===========================================  =====  =====================================
ratio                                        goal   paper
===========================================  =====  =====================================
CenterMask R-50 / FCOS R-50 (800 px)         1.26   72 / 57 ms (Titan Xp, Table 1)
CenterMask V2-39 / Mask R-CNN R-50 (800 px)  0.95   70 / 77 ms (Titan Xp, repo val table)
Lite V2-19 (600 px) / CenterMask V2-39 (800) 0.45   23 / 70 ms (Titan Xp; Lite on test-dev)
CenterMask R-50 / Mask R-CNN R-50 (800 px)   -      72 / 77 ms (information)
CenterMask R-50 / mmdet FCOS R-50 caffe      -      (information: mmdet's own FCOS)
===========================================  =====  =====================================

"FCOS R-50" is the detector part of CenterMask R-50 (same backbone, FPN, head and
post-processing: ``configs/centermask/fcos_r50_fpn_gn-head-centermask_1x_coco.py``), so the
first ratio is the cost of the mask branch, as in the paper's Table 1. mmdet's own FCOS and
Mask R-CNN configs are measured in the same run for comparison. Inputs: 800 x 1216 and,
for Lite, 600 x 912 (the same aspect ratio).

Writes the full benchmark record (JSON, see ``docs/benchmarks.md``) and a Markdown table of
the ratios with the machine named and this command line.

The full measurement (run it on a quiet machine; ~10 minutes on a 16-core CPU)::

    python benchmarks/paper_ratios.py --device cpu --threads 8 --runs 20 \\
        --out benchmarks/results/paper_ratios_cpu.json

Quick check that it works (tiny inputs, numbers meaningless)::

    python benchmarks/paper_ratios.py --shape-800 160 256 --shape-600 128 192 \\
        --runs 1 --warmup 0 --out /tmp/paper_ratios.json
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

#: label -> (config, size class). Size class '800' or '600' picks --shape-800 / --shape-600.
MODELS: dict[str, tuple[str, str]] = {
    "centermask-r50": ("configs/centermask/centermask_r50_fpn_1x_coco.py", "800"),
    "fcos-r50": ("configs/centermask/fcos_r50_fpn_gn-head-centermask_1x_coco.py", "800"),
    "mmdet-fcos-r50-caffe": ("mmdet::fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py", "800"),
    "mmdet-mask-rcnn-r50": ("mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py", "800"),
    "centermask-v2-39": ("configs/centermask/centermask_v2-39_fpn_1x_coco.py", "800"),
    "centermask-lite-v2-19": ("configs/centermask/centermask-lite_v2-19_fpn_4x_coco.py", "600"),
}


@dataclass(frozen=True)
class Ratio:
    """``numerator / denominator`` median latency, with the goal and the paper's figure."""

    title: str
    numerator: str
    denominator: str
    goal: float | None
    paper: float | None
    paper_note: str


RATIOS: tuple[Ratio, ...] = (
    Ratio("CenterMask R-50 / FCOS R-50", "centermask-r50", "fcos-r50", 1.26, 72 / 57,
          "72 / 57 ms, Titan Xp (paper Table 1)"),
    Ratio("CenterMask V2-39 / Mask R-CNN R-50-FPN", "centermask-v2-39", "mmdet-mask-rcnn-r50",
          0.95, 70 / 77, "70 / 77 ms, Titan Xp (CenterMask repo, val2017)"),
    Ratio("CenterMask-Lite V2-19 @600 / CenterMask V2-39 @800", "centermask-lite-v2-19",
          "centermask-v2-39", 0.45, 23 / 70, "23 / 70 ms, Titan Xp (Lite: test-dev table)"),
    Ratio("CenterMask R-50 / Mask R-CNN R-50-FPN", "centermask-r50", "mmdet-mask-rcnn-r50",
          None, 72 / 77, "72 / 77 ms, Titan Xp (information)"),
    Ratio("CenterMask R-50 / mmdet FCOS R-50-caffe", "centermask-r50", "mmdet-fcos-r50-caffe",
          None, None, "mmdet's own FCOS config (information)"),
)

#: Stage groups shown per model, in pipeline order.
GROUPS: tuple[str, ...] = ("preprocess", "backbone+FPN", "dense head+NMS", "RPN", "box head",
                           "RoI extraction", "mask head", "MaskIoU head", "paste-back", "other")


def compute_ratios(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The :data:`RATIOS` from a benchmark result (None where a model failed)."""
    from benchmarks.harness.bench import ratio

    by_name = {e["name"]: e for e in result["models"]
               if e.get("variant", "reference") == "reference"}
    rows = []
    for r in RATIOS:
        num, den = by_name.get(r.numerator), by_name.get(r.denominator)
        value = mac_ratio = spread = None
        if num and den:
            spread = ratio(num, den)
            if spread is not None:
                value = spread["median"]
                if num.get("gmacs") and den.get("gmacs"):
                    mac_ratio = round(num["gmacs"] / den["gmacs"], 4)
        rows.append({"title": r.title, "numerator": r.numerator, "denominator": r.denominator,
                     "ratio": value, "spread": spread, "mac_ratio": mac_ratio, "goal": r.goal,
                     "paper": round(r.paper, 3) if r.paper is not None else None,
                     "paper_note": r.paper_note,
                     "met": (value <= r.goal) if (value is not None and r.goal) else None})
    return rows


def markdown(result: dict[str, Any], rows: list[dict[str, Any]], command: str) -> str:
    """Ratio table, per-model latency and stage groups, machine and command."""
    hw = result["hardware"]
    lines = [
        "## Latency ratios (CenterMask paper claims)", "",
        f"Machine: {hw['summary']}; load average {hw.get('load_avg')} at start, "
        f"{result.get('load_avg_end')} at the end.",
        f"Method: batch 1, {result['settings']['warmup']} warm-up + "
        f"{result['settings']['runs']} timed runs, median; the models timed again in "
        f"turns (A, B, A, B ...) and each ratio the median (min-max) of its per-round "
        f"ratios; fixed detection count; "
        "random weights; see docs/benchmarks.md.",
        f"Command: `{command}`", "",
        "| ratio | measured | goal | paper | goal met | GMAC ratio |",
        "|---|---:|---:|---:|:---:|---:|",
    ]
    for r in rows:
        met = {True: "yes", False: "**no**", None: "-"}[r["met"]]
        s = r.get("spread") or {}
        measured = _f(r["ratio"], 3) + (f" ({_f(s['min'], 3)}-{_f(s['max'], 3)})"
                                        if s.get("interleaved") else "")
        lines.append(f"| {r['title']} | {measured} | {_f(r['goal'], 2)} | "
                     f"{_f(r['paper'], 2)} ({r['paper_note']}) | {met} | "
                     f"{_f(r.get('mac_ratio'), 3)} |")
    lines += ["", "Median ms per stage group (GMACs in the last column; the GMAC ratio above is "
              "what compute alone predicts, independent of the machine):", "",
              "| model | input | ms median | ms p90 | dets | " + " | ".join(GROUPS)
              + " | GMACs |",
              "|---|---|---:|---:|---:|" + "---:|" * len(GROUPS) + "---:|"]
    for e in result["models"]:
        if e.get("error"):
            lines.append(f"| {e['name']} | {'x'.join(map(str, e['shape']))} | FAILED: "
                         f"{e['error'][:60]} |")
            continue
        g = e.get("stage_groups_ms") or {}
        lat = e["latency_ms"]
        lines.append(f"| {e['name']} | {'x'.join(map(str, e['shape']))} | {_f(lat['median'], 1)}"
                     f" | {_f(lat['p90'], 1)} | {e['detections']['max']} | "
                     + " | ".join(_f(g.get(k), 1) for k in GROUPS)
                     + f" | {_f(e.get('gmacs'), 1)} |")
    return "\n".join(lines) + "\n"


def _f(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=None,
                        help="default: 5 on CPU, 50 on CUDA")
    parser.add_argument("--shape-800", nargs=2, type=int, default=(800, 1216),
                        metavar=("H", "W"), help="input of the 800 px models")
    parser.add_argument("--shape-600", nargs=2, type=int, default=(600, 912),
                        metavar=("H", "W"), help="input of CenterMask-Lite")
    parser.add_argument("--train-steps", type=int, default=0,
                        help="also time training steps (default 0: latency only)")
    parser.add_argument("--only", nargs="+", choices=sorted(MODELS), default=None,
                        help="measure only these models (ratios needing others are '-')")
    parser.add_argument("--out", type=Path, default=Path("paper_ratios.json"),
                        help="JSON record; the Markdown table goes next to it (.md)")
    args = parser.parse_args(argv)

    from benchmarks.harness import BenchSettings, ModelSpec, run_benchmark, write_json

    sizes = {"800": tuple(args.shape_800), "600": tuple(args.shape_600)}
    names = args.only or list(MODELS)
    specs = []
    for name in names:
        config, size = MODELS[name]
        if not config.startswith("mmdet::"):
            config = str(REPO / config)
        specs.append(ModelSpec(config=config, label=name, shape=sizes[size]))
    warmup = args.warmup if args.warmup is not None else (50 if args.device == "cuda" else 5)
    settings = BenchSettings(device=args.device, shape=sizes["800"], runs=args.runs,
                             warmup=warmup, threads=args.threads,
                             train_steps=args.train_steps)
    command = " ".join(["python benchmarks/paper_ratios.py", *(argv or sys.argv[1:])])
    result = run_benchmark(specs, settings, argv=command.split(),
                           log=lambda m: print(m, file=sys.stderr, flush=True))
    rows = compute_ratios(result)
    result["paper_ratios"] = rows
    write_json(result, args.out)
    md = markdown(result, rows, command)
    args.out.with_suffix(".md").write_text(md)
    print(md)
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}", file=sys.stderr)
    return 1 if any(e.get("error") for e in result["models"]) else 0


if __name__ == "__main__":
    raise SystemExit(main())
