#!/usr/bin/env python
"""Export a CenterMask / CenterMask-Lite config (and checkpoint) to ONNX.

    python tools/export_onnx.py CONFIG [CHECKPOINT] --out FILE.onnx \\
        [--shape H W | --dynamic] [--opset N] [--cfg-options KEY=VALUE ...] [--check]
    mim run centermask_mm export_onnx CONFIG [CHECKPOINT] --out FILE.onnx ...

The graph holds everything from the unnormalised BGR image to the detections: input
``image`` (1, 3, H, W) float32; outputs ``boxes`` (N, 4), ``scores``, ``labels`` (int64),
``mask_scores`` and ``masks`` (N, 28, 28) probabilities (paste them with
``centermask_mm.deploy.paste_masks``, or run the file with
``centermask_mm.deploy.OnnxCenterMask``). Without CHECKPOINT the weights are random.
``--shape H W`` fixes the input size (default 800 x 1216; export at the resized size of
your images, e.g. 600 x 800 for 3:4 images at CenterMask-Lite's test scale), ``--dynamic``
makes H and W dynamic. ``--opset`` defaults to 17, or 19 for models with deformable
convolutions (exported as ONNX DeformConv). ``--check`` runs the file once with
onnxruntime on a random image and compares it with PyTorch's ``predict``. See
docs/deploy.md.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import _cli_common

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Export CenterMask to ONNX (onnxruntime-ready).")
    p.add_argument("config", help="model config (a path, or a file name under configs/)")
    p.add_argument("checkpoint", nargs="?", default=None,
                   help="checkpoint file (omit for random weights)")
    p.add_argument("--out", required=True, help="output .onnx file")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--shape", nargs=2, type=int, metavar=("H", "W"), default=None,
                      help="fixed input height and width (default 800 1216)")
    size.add_argument("--dynamic", action="store_true", help="dynamic input height/width")
    p.add_argument("--opset", type=int, default=None,
                   help="ONNX opset (default 17, 19 with DCN; >= 16, >= 19 with DCN)")
    p.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE",
                   help="override config keys, e.g. model.test_cfg.postprocess=mmdet")
    p.add_argument("--check", action="store_true",
                   help="compare onnxruntime with PyTorch predict on a random image")
    return p.parse_args(argv)


def _find_config(name: str) -> Path:
    path = Path(name)
    if path.is_file():
        return path
    hits = sorted((REPO / "configs").rglob(path.name if path.suffix else f"{path.name}.py"))
    if len(hits) == 1:
        return hits[0]
    where = "several files under configs/" if hits else "no file under configs/"
    raise SystemExit(f"export_onnx: config not found: {name} ({where})")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = _find_config(args.config)
    if args.checkpoint is not None and not Path(args.checkpoint).is_file():
        raise SystemExit(f"export_onnx: checkpoint not found: {args.checkpoint}")
    sys.path.insert(0, str(REPO))
    from centermask_mm.deploy import ExportError, build_model, export_onnx

    options = _cli_common.key_value_options(args.cfg_options, "export_onnx")
    model, cfg = build_model(config, args.checkpoint, options)
    shape = tuple(args.shape) if args.shape else (800, 1216)
    try:
        out = export_onnx(model, args.out, shape=shape, dynamic=args.dynamic,
                          opset=args.opset, cfg=cfg)
    except ExportError as err:
        raise SystemExit(f"export_onnx: {config}: {err}") from None
    kind = "dynamic H x W" if args.dynamic else f"{shape[0]} x {shape[1]}"
    print(f"export_onnx: wrote {out} ({out.stat().st_size / 2**20:.1f} MiB, input {kind}, "
          f"weights {'from ' + args.checkpoint if args.checkpoint else 'random'})")
    if args.check:
        from centermask_mm.deploy.check import compare_with_predict

        report = compare_with_predict(model, out, shape)
        print(f"export_onnx: check: {report}")
        if not report["equal"]:
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
