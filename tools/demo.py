"""Draw CenterMask (or any mmdet model's) detections on images for a person to look at.

    python tools/demo.py IMAGE_OR_DIR CONFIG CHECKPOINT --out DIR [--score-thr 0.3]

Writes ``DIR/vis/<image name>`` with masks, boxes, class labels and box scores drawn by
mmdet's ``DetLocalVisualizer`` (through ``DetInferencer``), and with ``--save-pred`` also
``DIR/preds/<image name>.json``. With ``--backend onnxruntime`` CHECKPOINT is an ONNX file
written by ``tools/export_onnx.py``, run by ``centermask_mm.deploy.OnnxCenterMask`` on CPU
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


def _cfg_options(items: list[str]) -> dict:
    from mmengine.config import DictAction

    parsed: dict = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"demo: --cfg-options expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        parsed[key] = DictAction._parse_iterable(value)
    return parsed


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for path, what in ((args.config, "config"), (args.checkpoint, "checkpoint")):
        if not Path(path).is_file():
            raise SystemExit(f"demo: {what} not found: {path}")
    images = _images(Path(args.inputs))
    sys.path.insert(0, str(REPO))  # configs import centermask_mm
    from centermask_mm.utils import allow_full_checkpoint_load

    allow_full_checkpoint_load()  # mmengine checkpoints under torch >= 2.6; trusted files only

    from mmdet.apis import DetInferencer
    from mmengine.config import Config

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(_cfg_options(args.cfg_options))
    if args.backend == "onnxruntime":
        return _run_onnxruntime(args, images, cfg)
    # The checkpoint carries every weight: never look for the backbone's ImageNet file.
    cfg.model.get("backbone", {}).pop("init_cfg", None)
    inferencer = DetInferencer(model=cfg, weights=args.checkpoint, device=args.device,
                               show_progress=False)
    inferencer(images, batch_size=args.batch_size, out_dir=args.out,
               pred_score_thr=args.score_thr, no_save_pred=not args.save_pred)
    vis_dir = Path(args.out) / "vis"
    written = sorted(vis_dir.glob("*")) if vis_dir.is_dir() else []
    print(f"demo: drew {len(written)} image(s) into {vis_dir}")
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
    for path in images:
        sample = runner(path)
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
    written = sorted((out / "vis").glob("*")) if (out / "vis").is_dir() else []
    print(f"demo: drew {len(written)} image(s) into {out / 'vis'} (onnxruntime)")
    return 0 if len(written) == len(images) else 1


if __name__ == "__main__":
    raise SystemExit(main())
