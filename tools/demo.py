"""Draw CenterMask (or any mmdet model's) detections on images for a person to look at.

    python tools/demo.py IMAGE_OR_DIR CONFIG CHECKPOINT --out DIR [--score-thr 0.3]

Writes ``DIR/vis/<image name>`` with masks, boxes, class labels and box scores drawn by
mmdet's ``DetLocalVisualizer`` (through ``centermask_mm.apis.CenterMaskInferencer``, mmdet's
``DetInferencer`` keeping ``mask_scores``), and with ``--save-pred`` also
``DIR/preds/<image name>.json``. Prints how many instances each image shows (box score >=
``--score-thr``) and warns, with the highest score seen, when the threshold hid them all.
With ``--backend onnxruntime`` CHECKPOINT is an ONNX file written by
``tools/export_onnx.py``, run by ``centermask_mm.deploy.OnnxCenterMask`` on CPU
(``--threads``); the config gives the class names and colours. Runs on CPU unless
``--device`` says otherwise; nothing is downloaded (the checkpoint is a local file).
Example on the toy set::

    python -m centermask_mm.datasets.toy --out data/toy
    python tools/demo.py data/toy/val configs/centermask/toy/centermask-lite_v2-19-slim_fpn_toy.py \
        work_dirs/learn_toy/centermask-lite_v2-19-slim/final.pth --out work_dirs/demo
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import _cli_common

REPO = Path(__file__).resolve().parents[1]
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Visualise instance-segmentation predictions.")
    p.add_argument("inputs", help="an image file or a folder of images")
    p.add_argument("config", help="model config (e.g. configs/centermask/...py)")
    p.add_argument("checkpoint", help="local checkpoint file")
    p.add_argument("--out", required=True, help="output folder (images go to OUT/vis)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--backend", choices=["pytorch", "onnxruntime"], default="pytorch",
                   help="onnxruntime: CHECKPOINT is a .onnx file from tools/export_onnx.py")
    p.add_argument("--threads", type=int, default=None,
                   help="onnxruntime intra-op threads (default: its own choice)")
    p.add_argument("--score-thr", type=float, default=0.3,
                   help="draw instances whose box score is at least this (default 0.3)")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--save-pred", action="store_true", help="also write OUT/preds/*.json")
    p.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE",
                   help="override config keys, e.g. model.test_cfg.fcos.score_thr=0.05")
    return p.parse_args(argv)


def _images(inputs: Path) -> list[str]:
    if inputs.is_file():
        return [str(inputs)]
    if inputs.is_dir():
        files = sorted(str(p) for p in inputs.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if files:
            return files
        raise SystemExit(f"demo: no images ({sorted(IMAGE_SUFFIXES)}) in folder {inputs}")
    raise SystemExit(f"demo: input not found: {inputs}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for path, what in ((args.config, "config"), (args.checkpoint, "checkpoint")):
        if not Path(path).is_file():
            raise SystemExit(f"demo: {what} not found: {path}")
    images = _images(Path(args.inputs))
    sys.path.insert(0, str(REPO))  # configs import centermask_mm
    from mmengine.config import Config

    # Importing centermask_mm lets torch >= 2.6 load mmengine's checkpoints with
    # weights_only=True; CenterMaskInferencer is DetInferencer keeping mask_scores.
    from centermask_mm.apis import CenterMaskInferencer

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(_cli_common.key_value_options(args.cfg_options, "demo"))
    if args.backend == "onnxruntime":
        return _run_onnxruntime(args, images, cfg)
    # The checkpoint carries every weight: never look for the backbone's ImageNet file.
    cfg.model.get("backbone", {}).pop("init_cfg", None)
    inferencer = CenterMaskInferencer(model=cfg, weights=args.checkpoint, device=args.device,
                                      show_progress=False)
    result = inferencer(images, batch_size=args.batch_size, out_dir=args.out,
                        pred_score_thr=args.score_thr, no_save_pred=not args.save_pred)
    scores = [p["scores"] for p in result["predictions"]]
    return _report(images, scores, args.score_thr, Path(args.out) / "vis")


def _report(images: list[str], scores: list[list[float]], score_thr: float, vis_dir: Path,
            backend: str = "") -> int:
    """Print what was drawn per image and warn when the threshold hid every instance.

    Returns the exit status: 1 when an image was not written.
    """
    written = sorted(vis_dir.glob("*")) if vis_dir.is_dir() else []
    drawn = [sum(s >= score_thr for s in per_image) for per_image in scores]
    for path, n, per_image in zip(images, drawn, scores, strict=True):
        top = f", highest score {max(per_image):.2f}" if per_image else ""
        print(f"demo: {Path(path).name}: {n} instance(s) drawn (score >= {score_thr:g}"
              f"{top})")
    print(f"demo: wrote {len(written)} image(s) with {sum(drawn)} instance(s) drawn into "
          f"{vis_dir}{backend}")
    if not sum(drawn):
        best = max((s for per_image in scores for s in per_image), default=None)
        seen = "no detection at all" if best is None else f"the highest score was {best:.3f}"
        print(f"demo: warning: no instance scored >= {score_thr:g} ({seen}), so the images "
              "show no prediction; lower --score-thr or train the model longer",
              file=sys.stderr)
    return 0 if len(written) == len(images) else 1


def _run_onnxruntime(args: argparse.Namespace, images: list[str], cfg) -> int:
    """Predict with the ONNX file and draw/save like DetInferencer does."""
    import json

    import mmcv
    from mmdet.structures.mask import encode_mask_results
    from mmdet.visualization import DetLocalVisualizer

    from centermask_mm.deploy import OnnxCenterMask

    runner = OnnxCenterMask(args.checkpoint, num_threads=args.threads)
    meta = dict(cfg.get("test_dataloader", {}).get("dataset", {}).get("metainfo") or {})
    meta.setdefault("classes", runner.meta.get("classes") or [])
    visualizer = DetLocalVisualizer()
    visualizer.dataset_meta = meta
    out = Path(args.out)
    scores: list[list[float]] = []
    for path in images:
        sample = runner(path)
        scores.append(sample.pred_instances.scores.tolist())
        name = Path(path).name
        visualizer.add_datasample(
            name, mmcv.imread(path, channel_order="rgb"), sample, draw_gt=False,
            pred_score_thr=args.score_thr, out_file=str(out / "vis" / name))
        if args.save_pred:
            inst = sample.pred_instances
            pred = dict(labels=inst.labels.tolist(), scores=inst.scores.tolist(),
                        mask_scores=inst.mask_scores.tolist(), bboxes=inst.bboxes.tolist(),
                        masks=[dict(size=m["size"], counts=m["counts"].decode())
                               for m in encode_mask_results(inst.masks.numpy())])
            (out / "preds").mkdir(parents=True, exist_ok=True)
            (out / "preds" / f"{Path(name).stem}.json").write_text(json.dumps(pred))
    return _report(images, scores, args.score_thr, out / "vis", " (onnxruntime)")


if __name__ == "__main__":
    raise SystemExit(main())
