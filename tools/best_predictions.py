#!/usr/bin/env python
"""Draw the predictions of a study's best model on validation images, as one picture.

    python tools/best_predictions.py STUDY [--workspace DIR] [--images 6] [--score-thr 0.3]

Picks the table row with the highest mask AP (``segm_mAP``) among the study's finished
runs in the workspace's MLflow store, and of that row the seed that scored highest; loads
that job's resolved config and final checkpoint from ``<workspace>/jobs/<job hash>/``;
predicts the first ``--images`` images of the config's test set with
``centermask_mm.apis.CenterMaskInferencer`` (mmdet's ``DetInferencer``); and writes one
picture with the ground truth instance count and the drawn predictions (masks, boxes,
classes, box scores >= ``--score-thr``) under each image:
``<workspace>/figures/<study>-predictions.png`` unless ``--out`` says otherwise. Prints the
picture's path and the commands to try next. ``make run`` calls it after the smoke study.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("study", help="study file or name, e.g. studies/smoke.yaml")
    p.add_argument("--workspace", help="workspace folder (default: $CM_WORKSPACE, else "
                                       ".workspace/ in the repository)")
    p.add_argument("--tracking-uri", help="MLflow store (default: <workspace>/mlflow.db)")
    p.add_argument("--profile", help="the study profile whose runs to use (default: the "
                                     "study's)")
    p.add_argument("--images", type=int, default=6, help="validation images to draw (6)")
    p.add_argument("--score-thr", type=float, default=0.3,
                   help="draw instances whose box score is at least this (0.3)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", help="picture path (default: <workspace>/figures/"
                                 "<study>-predictions.png)")
    args = p.parse_args(argv)
    if args.images < 1:
        p.error("--images must be at least 1")
    return args


def best_job(table: Any, workspace: Path) -> tuple[str, float, int | None, Path]:
    """(row name, its mean segm AP, the seed, that seed's job folder) of the best row.

    Raises:
        SystemExit: the table has no ``segm_mAP`` column, no finished run, or the job's
            folder is gone.
    """
    if "segm_mAP" not in {c.name for c in table.columns}:
        raise SystemExit(f"best_predictions: study {table.study}: its table has no segm_mAP "
                         "column to rank rows by")
    scored = [(row.cells["segm_mAP"].mean, i) for i, row in enumerate(table.rows)
              if row.cells["segm_mAP"].mean is not None]
    if not scored:
        raise SystemExit(f"best_predictions: study {table.study}: no finished run with a "
                         "segm_mAP yet (run the study first)")
    ap, index = max(scored)
    row = table.rows[index]
    cell = row.cells["segm_mAP"]
    seed = max(cell.values, key=lambda s: cell.values[s])
    ref = next(r for r in cell.runs if r.seed == seed)
    folder = workspace / "jobs" / str(ref.job_hash)
    if not (folder / "job.json").is_file():
        raise SystemExit(f"best_predictions: row {row.name!r} seed {seed}: job folder "
                         f"{folder} (MLflow run {ref.run_id}) not found in this workspace")
    return row.name, ap, seed, folder


def job_checkpoint(folder: Path) -> tuple[Path, Path]:
    """(resolved config, final checkpoint) of a finished job's folder."""
    config = Path(json.loads((folder / "job.json").read_text())["config"])
    if not config.is_absolute():
        config = folder / config
    last = folder / "last_checkpoint"
    ckpt = Path(last.read_text().strip()) if last.is_file() else None
    if ckpt is None or not ckpt.is_file():
        ckpts = sorted(folder.glob("epoch_*.pth"), key=lambda p: int(p.stem.split("_")[1]))
        ckpts = ckpts or sorted(folder.glob("iter_*.pth"),
                                key=lambda p: int(p.stem.split("_")[1]))
        if not ckpts:
            raise SystemExit(f"best_predictions: no checkpoint in {folder}")
        ckpt = ckpts[-1]
    return config, ckpt


def test_images(cfg: Any, count: int) -> tuple[list[Path], Path]:
    """The first ``count`` images of the config's test set, and its annotation file."""
    ds = cfg.test_dataloader.dataset
    root = Path(ds.get("data_root") or "")
    img_dir = root / (ds.get("data_prefix") or {}).get("img", "")
    ann = root / ds.ann_file
    files = json.loads(ann.read_text())["images"]
    return [img_dir / f["file_name"] for f in files[:count]], ann


def draw_predictions(config: Path, ckpt: Path, count: int, score_thr: float, device: str,
                     title: str, target: Path) -> tuple[list[Path], int]:
    """Predict the first ``count`` test images of ``config`` with ``ckpt`` and save one
    picture of them to ``target``; returns the images and the number of instances drawn."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from mmengine.config import Config

    from centermask_mm.apis import CenterMaskInferencer

    cfg = Config.fromfile(str(config))
    # The checkpoint carries every weight: never look for the backbone's ImageNet file.
    cfg.model.get("backbone", {}).pop("init_cfg", None)
    # A job's config logs to its MLflow run (the orchestrator's vis backend): draw only.
    cfg.visualizer = dict(type="DetLocalVisualizer", name="visualizer", vis_backends=None)
    images, ann = test_images(cfg, count)
    coco = json.loads(ann.read_text())
    names = {im["id"]: im["file_name"] for im in coco["images"]}
    gt: dict[str, int] = {}
    for a in coco["annotations"]:
        gt[names[a["image_id"]]] = gt.get(names[a["image_id"]], 0) + 1
    inferencer = CenterMaskInferencer(model=cfg, weights=str(ckpt), device=device,
                                      show_progress=False)
    out = inferencer([str(p) for p in images], return_vis=True, no_save_vis=True,
                     pred_score_thr=score_thr)
    cols = min(3, len(images))
    rows = -(-len(images) // cols)
    fig = Figure(figsize=(3.2 * cols, 3.5 * rows + 0.6), layout="constrained")
    FigureCanvasAgg(fig)
    total = 0
    for i, (path, vis, pred) in enumerate(zip(images, out["visualization"],
                                              out["predictions"], strict=True)):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(np.asarray(vis))
        ax.set_axis_off()
        drawn = sum(s >= score_thr for s in pred["scores"])
        total += drawn
        ax.set_title(f"{path.name}: {drawn} drawn / {gt.get(path.name, 0)} true", fontsize=8)
    fig.suptitle(title, fontsize=9)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=120)
    return images, total


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(REPO))
    from analysis.report import study_table
    from analysis.runs import check_store, default_tracking_uri, workspace_dir

    workspace = workspace_dir(args.workspace)
    uri = check_store(args.tracking_uri or default_tracking_uri(args.workspace))
    table, _ = study_table(args.study, tracking_uri=uri, profile=args.profile)
    name, ap, seed, folder = best_job(table, workspace)
    config, ckpt = job_checkpoint(folder)
    target = Path(args.out) if args.out else \
        workspace / "figures" / f"{table.study}-predictions.png"
    title = (f"{table.study}: best row \u201c{name}\u201d (mask AP {ap:.1f}, seed {seed}); "
             f"box score \u2265 {args.score_thr:g}")
    images, drawn = draw_predictions(config, ckpt, args.images, args.score_thr, args.device,
                                     title, target)

    ws = f" --workspace {args.workspace}" if args.workspace else ""
    print(f"predictions of the best row \u201c{name}\u201d (mask AP {ap:.1f}) on "
          f"{len(images)} validation images, {drawn} instance(s) drawn: {target}")
    if not drawn:
        print(f"warning: no instance scored >= {args.score_thr:g}: the model has not learned "
              "enough to show anything at this threshold", file=sys.stderr)
    print("next:")
    print(f"  .venv/bin/orchestrator ui{ws}                  # MLflow: runs, curves, artifacts")
    print(f"  .venv/bin/orchestrator table {args.study}{ws} --format latex")
    print(f"  .venv/bin/python tools/demo.py {images[0].parent} {config} {ckpt} "
          "--out work_dirs/demo   # all validation images")
    print("  .venv/bin/orchestrator plan studies/table4.yaml --profile toy   # a paper table; "
          "README: Train a single model")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
