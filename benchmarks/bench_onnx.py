"""PyTorch eager vs onnxruntime latency of CenterMask on CPU, side by side in one run.

For each model (default: CenterMask-Lite V-19 at 600 x 912 and CenterMask V-39 at
800 x 1216, the inputs of ``benchmarks/paper_ratios.py``), random weights:

1. export the graph (``centermask_mm.deploy.export_onnx``, fixed input shape);
2. check the outputs are equal (``centermask_mm.deploy.check``: boxes 1e-3 px, scores
   1e-4, >= 99.9 % mask pixels) on the benchmark image, and record it;
3. warm both backends up, then time **interleaved** rounds: PyTorch, onnxruntime,
   PyTorch, onnxruntime, ... Each round gives one ratio eager / onnxruntime, so a load
   change on the (shared) machine hits both sides of a ratio alike; the report gives the
   median and p90 latency per backend and the median of the per-round ratios with their
   spread (min, p10, p90, max).

Both sides do the same work, from the resized BGR image to masks pasted at input
resolution: PyTorch is the model's ``data_preprocessor`` + ``predict`` (mmcv's NMS and
RoIAlign, mmdet's paste); onnxruntime is ``session.run`` + ``paste_masks`` (numpy). The
graph-only onnxruntime time is recorded too. Random weights are made to behave like a
trained model on the benchmark image: every BatchNorm's statistics are set from it
(``calibrate_batchnorm``: activations of a trained model's scale) and the FCOS
classification bias is set so that ``--candidates`` (500) pairs pass the score threshold
(``set_detection_bias``: the top-50 cut is full, so the mask branch has its full load);
the detection count is recorded.

Threads: ``torch.set_num_threads(T)`` and onnxruntime ``intra_op_num_threads=T``
(``--threads``, default 2). ``uptime`` is recorded before and after.

    python benchmarks/bench_onnx.py --threads 2 --warmup 3 --rounds 15 \\
        --out benchmarks/results/onnx_cpu_2threads.json

writes the JSON record and a Markdown table next to it (same name, ``.md``).

    python benchmarks/bench_onnx.py --out benchmarks/results/onnx_backbones.json --coverage

exports one config per backbone instead (or the configs listed after ``--coverage``) and
records the equality with ``predict``, and with PyTorch itself run without oneDNN.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]

#: label -> (config, (H, W)).
MODELS: dict[str, tuple[str, tuple[int, int]]] = {
    "centermask-lite-v2-19@600": ("configs/centermask/centermask-lite_v2-19_fpn_4x_coco.py",
                                  (600, 912)),
    "centermask-v2-39@800": ("configs/centermask/centermask_v2-39_fpn_1x_coco.py", (800, 1216)),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=3, help="untimed runs per backend")
    p.add_argument("--rounds", type=int, default=15, help="timed interleaved rounds")
    p.add_argument("--optimization", default="all", choices=["all", "extended", "basic", "none"],
                   help="onnxruntime graph optimisation level (default all)")
    p.add_argument("--candidates", type=int, default=500,
                   help="FCOS bias chosen so that this many (class, location) pairs pass "
                        "the score threshold (random weights detect like a trained model)")
    p.add_argument("--shape", nargs=2, type=int, default=None, metavar=("H", "W"),
                   help="override every model's input shape (quick checks)")
    p.add_argument("--coverage", nargs="*", default=None, metavar="CONFIG",
                   help="instead of timing: export these configs (default: one per "
                        "backbone; list them right after the flag) at --shape (default "
                        "320 448) and record the equality")
    p.add_argument("--out", type=Path,
                   default=REPO / "benchmarks" / "results" / "onnx_cpu_2threads.json")
    return p.parse_args(argv)


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "n/a"


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def _summary(values: list[float]) -> dict[str, float]:
    return dict(median=_pct(values, 50), p90=_pct(values, 90), min=min(values),
                max=max(values))


def bench_model(label: str, config: str, shape: tuple[int, int], args: argparse.Namespace,
                workdir: Path) -> dict[str, Any]:
    import torch

    from centermask_mm.deploy import OnnxCenterMask, build_model, export_onnx, paste_masks
    from centermask_mm.deploy.check import (
        calibrate_batchnorm,
        compare,
        set_detection_bias,
        torch_predict,
    )

    torch.manual_seed(0)
    model, cfg = build_model(REPO / config)
    image = (np.random.default_rng(0).random((1, 3, *shape), dtype=np.float32) * 255)
    # A trained model's activation scale (and so its float32 rounding) for random weights,
    # and a trained model's number of FCOS candidates.
    calibrate_batchnorm(model, image)
    cls_bias = set_detection_bias(model, image, args.candidates)
    t0 = time.perf_counter()
    onnx_file = export_onnx(model, workdir / f"{label.replace('@', '_')}.onnx", shape=shape,
                            cfg=cfg)
    export_s = time.perf_counter() - t0
    runner = OnnxCenterMask(onnx_file, num_threads=args.threads,
                            optimization=args.optimization)
    thr = float(runner.meta["mask_thr_binary"])
    h, w = shape

    def run_torch() -> dict:
        return torch_predict(model, image)

    def run_ort() -> dict:
        outs = runner.run_raw(image)
        outs["pasted"] = paste_masks(outs["masks"], outs["boxes"], h, w, thr)
        return outs

    equality = compare(runner.run_raw(image), run_torch(), thr)
    print(f"[{label}] export {export_s:.1f} s, equal={equality['equal']} "
          f"detections={equality['n']}", flush=True)
    for _ in range(args.warmup):
        run_torch()
        run_ort()
    times: dict[str, list[float]] = dict(pytorch=[], onnxruntime=[], onnxruntime_graph=[])
    ratios: list[float] = []
    for r in range(args.rounds):
        t0 = time.perf_counter()
        run_torch()
        t_pt = time.perf_counter() - t0
        t0 = time.perf_counter()
        outs = runner.run_raw(image)
        t_graph = time.perf_counter() - t0
        paste_masks(outs["masks"], outs["boxes"], h, w, thr)
        t_ort = time.perf_counter() - t0
        times["pytorch"].append(t_pt)
        times["onnxruntime"].append(t_ort)
        times["onnxruntime_graph"].append(t_graph)
        ratios.append(t_pt / t_ort)
        print(f"[{label}] round {r + 1}/{args.rounds}: eager {t_pt * 1e3:.0f} ms, "
              f"onnxruntime {t_ort * 1e3:.0f} ms (graph {t_graph * 1e3:.0f}), "
              f"ratio {t_pt / t_ort:.2f}", flush=True)
    return dict(
        label=label, config=config, input_shape=list(shape), export_s=export_s,
        cls_bias=cls_bias,
        onnx_mib=onnx_file.stat().st_size / 2**20, postprocess=runner.meta["postprocess"],
        equality=equality,
        latency_ms={k: {s: v * 1e3 for s, v in _summary(t).items()} for k, t in times.items()},
        ratio=dict(median=_pct(ratios, 50), p10=_pct(ratios, 10), p90=_pct(ratios, 90),
                   min=min(ratios), max=max(ratios),
                   of_medians=_pct(times["pytorch"], 50) / _pct(times["onnxruntime"], 50)),
        rounds_ms={k: [v * 1e3 for v in t] for k, t in times.items()},
        per_round_ratio=ratios,
    )


#: One config per exportable backbone family (``--coverage``).
COVERAGE: tuple[str, ...] = (
    "configs/centermask/centermask-lite_v2-19_fpn_4x_coco.py",
    "configs/centermask/centermask-lite_v2-39_fpn_4x_coco.py",
    "configs/centermask/centermask-lite_r50_fpn_4x_coco.py",
    "configs/centermask/centermask-lite_mobilenetv2_fpn_4x_coco.py",
    "configs/centermask/centermask_v2-39_fpn_1x_coco.py",
    "configs/centermask/centermask_v2-99_fpn_1x_coco.py",
    "configs/centermask/centermask_v1-39_fpn_1x_coco.py",
    "configs/centermask/centermask_v1-39-res-se_fpn_1x_coco.py",
    "configs/centermask/centermask_r50_fpn_1x_coco.py",
    "configs/centermask/centermask_r50_fpn_mask-eq1_1x_coco.py",
    "configs/centermask/centermask_x101-32x8d_fpn_1x_coco.py",
    "configs/centermask/centermask_mobilenetv2_fpn_1x_coco.py",
    "configs/centermask/centermask_hrnetv2p-w18_fpn_1x_coco.py",
    # Published models (centermask2's post-processing) and the refused DCN variant.
    "configs/centermask/centermask-lite_v2-19-ese_fpn_ms-4x_coco.py",
    "configs/centermask/centermask-lite_v2-19-slim-dw-ese_fpn_ms-4x_coco.py",
    "configs/centermask/centermask_v2-39-ese_fpn_ms-3x_coco.py",
    "configs/centermask/centermask-mb_r50-caffe_fpn_ms-2x_coco.py",
    "configs/centermask/centermask_v2-39-ese-dconv-c3-c5_fpn_ms-3x_coco.py",
)


def coverage(configs: list[str], shape: tuple[int, int], args: argparse.Namespace,
             workdir: Path) -> list[dict[str, Any]]:
    """Export every config (random weights, calibrated BN) and compare with ``predict``.

    Next to onnxruntime vs PyTorch it records the same comparison for PyTorch vs PyTorch
    with oneDNN convolutions switched off (the export graph run eagerly): the float32
    difference between two correct conv implementations, for scale.
    """
    import torch

    from centermask_mm.deploy import (
        CenterMaskExportGraph,
        ExportError,
        OnnxCenterMask,
        build_model,
        export_onnx,
    )
    from centermask_mm.deploy.check import (
        calibrate_batchnorm,
        compare,
        set_detection_bias,
        torch_predict,
    )

    rows = []
    image = (np.random.default_rng(0).random((1, 3, *shape), dtype=np.float32) * 255)
    for config in configs:
        row: dict[str, Any] = dict(config=config)
        try:
            torch.manual_seed(0)
            model, cfg = build_model(REPO / config)
            calibrate_batchnorm(model, image)
            set_detection_bias(model, image, args.candidates)
            t0 = time.perf_counter()
            onnx_file = export_onnx(model, workdir / "coverage.onnx", shape=shape, cfg=cfg)
            row["export_s"] = time.perf_counter() - t0
            runner = OnnxCenterMask(onnx_file, num_threads=args.threads)
            row["postprocess"] = runner.meta["postprocess"]
            ref = torch_predict(model, image)
            row["onnxruntime"] = compare(runner.run_raw(image), ref)
            with torch.no_grad(), torch.backends.mkldnn.flags(enabled=False):
                outs = CenterMaskExportGraph(model)(torch.from_numpy(image))
            row["pytorch_no_onednn"] = compare(
                {k: v.numpy() for k, v in zip(("boxes", "scores", "labels", "mask_scores",
                                               "masks"), outs, strict=True)}, ref)
        except ExportError as err:
            row["refused"] = str(err)
        except Exception as err:  # recorded, so one broken config does not stop the table
            row["error"] = f"{type(err).__name__}: {err}"
        print(f"[coverage] {json.dumps(row)}", flush=True)
        rows.append(row)
    return rows


def coverage_markdown(rows: list[dict[str, Any]], shape: tuple[int, int], command: str) -> str:
    def cell(rep: dict[str, Any]) -> str:
        if rep["n"][0] != rep["n"][1]:
            return f"detections {rep['n'][0]} vs {rep['n'][1]}"
        if rep.get("reordered") is None:
            return "no: a detection without a partner (same label) in the other output"
        moved = f", {rep['reordered']} reordered" if rep["reordered"] else ""
        return (f"{'yes' if rep['equal'] else 'no'}{moved}: box {rep['max_box_err']:.1e} px, "
                f"score {rep['max_score_err']:.1e}, mask score "
                f"{rep['max_mask_score_err']:.1e}, mask px "
                f"{100 * rep['mask_equal_frac']:.4f} %")

    lines = [f"# ONNX export of every backbone: onnxruntime vs PyTorch predict "
             f"({shape[0]} x {shape[1]}, random weights, BN calibrated)", "",
             "Equal = boxes within 1e-3 px, scores and mask scores within 1e-4, labels "
             "equal, >= 99.9 % mask pixels. The last column is the same comparison between "
             "two PyTorch runs (oneDNN convolutions off vs on): the float32 noise floor.", "",
             "| config | post-processing | export (s) | onnxruntime vs predict | "
             "PyTorch w/o oneDNN vs predict |",
             "|---|---|---|---|---|"]
    for row in rows:
        name = Path(row["config"]).name
        if "refused" in row or "error" in row:
            what = "refused" if "refused" in row else "FAILED"
            lines.append(f"| {name} | | {what} | {row.get('refused') or row['error']} | |")
            continue
        lines.append(f"| {name} | {row['postprocess']} | {row['export_s']:.0f} | "
                     f"{cell(row['onnxruntime'])} | "
                     f"{cell(row['pytorch_no_onednn'])} |")
    lines += ["", f"Command: `{command}`", ""]
    return "\n".join(lines)


def _moved(rep: dict[str, Any]) -> str:
    return f"{rep['reordered']} reordered, " if rep.get("reordered") else ""


def markdown(record: dict[str, Any]) -> str:
    lines = [
        f"# PyTorch eager vs onnxruntime, CPU, {record['threads']} threads",
        "",
        f"Machine: {record['machine']['cpu']} ({record['machine']['cores']} cores, shared); "
        f"torch {record['versions']['torch']}, onnxruntime {record['versions']['onnxruntime']}"
        f" (graph optimisation '{record['optimization']}'). Random weights, batch 1; "
        f"{record['warmup']} warm-up runs per backend, then {record['rounds']} interleaved "
        "rounds (eager, onnxruntime, eager, ...). Both sides: resized BGR image -> masks "
        "pasted at input resolution.",
        "",
        "| model | input | eager median / p90 (ms) | onnxruntime median / p90 (ms) | "
        "graph only median (ms) | speed-up eager/ORT: median of rounds [p10-p90] (min-max) "
        "| outputs equal | detections |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in record["models"]:
        lat, r, eq = m["latency_ms"], m["ratio"], m["equality"]
        lines.append(
            f"| {m['label']} | {m['input_shape'][0]} x {m['input_shape'][1]} | "
            f"{lat['pytorch']['median']:.0f} / {lat['pytorch']['p90']:.0f} | "
            f"{lat['onnxruntime']['median']:.0f} / {lat['onnxruntime']['p90']:.0f} | "
            f"{lat['onnxruntime_graph']['median']:.0f} | "
            f"**{r['median']:.2f}x** [{r['p10']:.2f}-{r['p90']:.2f}] "
            f"({r['min']:.2f}-{r['max']:.2f}) | "
            f"{'yes' if eq['equal'] else 'NO'} ({_moved(eq)}box {eq.get('max_box_err', 0):.1e} px, "
            f"score {eq.get('max_score_err', 0):.1e}, mask px "
            f"{100 * eq.get('mask_equal_frac', 1):.3f} %) | {eq['n'][0]} |")
    lines += [
        "",
        f"Load: before `{record['uptime_before']}`; after `{record['uptime_after']}`.",
        "",
        f"Command: `{record['command']}`",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(REPO))
    import onnxruntime
    import torch

    from benchmarks.harness.hardware import cpu_model_name

    torch.set_num_threads(args.threads)
    record: dict[str, Any] = dict(
        threads=args.threads, warmup=args.warmup, rounds=args.rounds,
        optimization=args.optimization, candidates=args.candidates,
        command="python " + " ".join([str(Path(sys.argv[0]).as_posix())] + sys.argv[1:]),
        machine=dict(cpu=cpu_model_name(), cores=os.cpu_count()),
        versions=dict(torch=torch.__version__, onnxruntime=onnxruntime.__version__,
                      python=platform.python_version()),
        uptime_before=_uptime(), models=[])
    if args.coverage is not None:
        shape = tuple(args.shape) if args.shape else (320, 448)
        with tempfile.TemporaryDirectory() as tmp:
            rows = coverage(args.coverage or list(COVERAGE), shape, args, Path(tmp))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(dict(record, shape=list(shape), rows=rows), indent=1)
                            + "\n")
        args.out.with_suffix(".md").write_text(coverage_markdown(rows, shape,
                                                                 record["command"]))
        print(f"bench_onnx: wrote {args.out} and {args.out.with_suffix('.md')}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        for label in args.models:
            config, shape = MODELS[label]
            if args.shape:
                shape = (args.shape[0], args.shape[1])
            record["models"].append(bench_model(label, config, shape, args, Path(tmp)))
    record["uptime_after"] = _uptime()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    md = args.out.with_suffix(".md")
    md.write_text(markdown(record))
    print(markdown(record))
    print(f"bench_onnx: wrote {args.out} and {md}")
    return 0 if all(m["equality"]["equal"] for m in record["models"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
