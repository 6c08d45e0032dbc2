#!/usr/bin/env python
"""Evaluate a checkpoint on a config's test set, with the centermask_mm plugins registered.

The interface is mmdet 3's ``tools/test.py``::

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out results.pkl]
        [--show-dir DIR] [--show] [--cfg-options KEY=VALUE ...] [--launcher pytorch]
    mim test centermask_mm CONFIG --checkpoint CHECKPOINT [same flags]
    tools/dist_test.sh CONFIG CHECKPOINT GPUS [same flags]

Outputs, in the work directory (``--work-dir``, else ``work_dir`` in the config, else
``./work_dirs/<config name>``):

- ``metrics.json``: the test evaluator's metrics exactly as mmdet returns them
  (``coco/segm_mAP``, ``coco/bbox_mAP``, ... as fractions in [0, 1]); 0.0 for a task's
  APs when the model predicted nothing at all (``CocoMetric`` then returns no key);
- ``<timestamp>/``: the log and the resolved config;
- with ``--show-dir DIR``: one image per test image, ground truth left and predicted
  boxes/masks right (scores >= ``default_hooks.visualization.score_thr``, 0.3 unless
  overridden). A relative DIR is under ``<work dir>/<timestamp>/`` as in mmdet.
- with ``--out FILE.pkl``: the raw predictions (mmdet's ``DumpDetResults``).
"""
from __future__ import annotations

import argparse
import json
import os.path as osp
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

# Only the shared flag handling is imported at module level, so -h stays fast.
import _cli_common

if TYPE_CHECKING:
    from mmengine.config import Config

METRICS_FILE = "metrics.json"


def fill_empty_coco(metrics: dict, evaluators: object) -> tuple[dict, list[str]]:
    """``metrics`` with 0.0 for the AP keys a ``CocoMetric`` left out; and which tasks.

    mmdet's ``CocoMetric`` returns no key at all when the model predicted nothing on the
    whole test set; the AP of an empty detection set is 0, so ``metrics.json`` says 0.0
    (the orchestrator's jobs do the same).
    """
    out, filled = dict(metrics), []
    for ev in evaluators if isinstance(evaluators, (list, tuple)) else [evaluators]:
        if not isinstance(ev, dict) or "CocoMetric" not in str(ev.get("type")):
            continue
        prefix = ev.get("prefix") or "coco"
        tasks = ev.get("metric", "bbox")
        for task in [tasks] if isinstance(tasks, str) else tasks:
            keys = [f"{prefix}/{task}_mAP{s}" for s in ("", "_50", "_75", "_s", "_m", "_l")]
            if task in ("bbox", "segm") and not any(k in out for k in keys):
                out.update(dict.fromkeys(keys, 0.0))
                filled.append(task)
    return out, filled


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse mmdet's test flags; missing files and a non-pickle ``--out`` are usage errors."""
    parser = argparse.ArgumentParser(
        description="Test (and evaluate) a detector checkpoint with centermask_mm registered.")
    parser.add_argument("config", help="test config file path")
    parser.add_argument("checkpoint", help="checkpoint file")
    parser.add_argument("--work-dir", help=f"where {METRICS_FILE} and the logs are written")
    parser.add_argument("--out", type=str,
                        help="dump the predictions to a .pkl file for offline evaluation")
    parser.add_argument("--show", action="store_true",
                        help="show the predictions in a window")
    parser.add_argument("--show-dir",
                        help="save images with the predictions drawn; a relative path is "
                             "under <work dir>/<timestamp>/")
    parser.add_argument("--wait-time", type=float, default=2,
                        help="seconds each image is shown with --show")
    args = _cli_common.parse_runner_args(parser, argv)
    # URLs (open-mmlab://, https://) are mmengine's business; local paths are checked here
    # rather than after the model is built.
    if "://" not in args.checkpoint and not osp.isfile(args.checkpoint):
        parser.error(f"checkpoint not found: {args.checkpoint}")
    if args.out is not None and not args.out.endswith((".pkl", ".pickle")):
        parser.error(f"--out must be a .pkl or .pickle file, got {args.out}")
    return args


def setup_cfg(args: argparse.Namespace) -> Config:
    """Load ``args.config`` and apply the flags (precedence as in ``tools/train.py``).

    Raises:
        KeyError: ``--show``/``--show-dir`` with a config whose ``default_hooks`` has no
            ``visualization`` hook.
    """
    cfg = _cli_common.load_cfg(args)
    cfg.load_from = args.checkpoint

    if args.show or args.show_dir:
        vis = (cfg.get("default_hooks") or {}).get("visualization")
        if vis is None:
            raise KeyError(
                f"--show/--show-dir: {args.config} has no default_hooks.visualization; add "
                "default_hooks = dict(visualization=dict(type='DetVisualizationHook'))")
        vis["draw"] = True
        if args.show:
            vis["show"] = True
            vis["wait_time"] = args.wait_time
        if args.show_dir:
            vis["test_out_dir"] = args.show_dir
    return cfg


def main(argv: Sequence[str] | None = None) -> int:
    """Test; writes ``<work dir>/metrics.json`` on the main process. Returns the exit status."""
    args = parse_args(argv)
    from mmdet.evaluation import DumpDetResults
    from mmengine.dist import is_main_process

    # Importing centermask_mm (build_runner does) lets torch >= 2.6 load mmengine's
    # checkpoints with weights_only=True (centermask_mm.utils.register_checkpoint_safe_globals).
    from centermask_mm.utils import build_runner

    runner = build_runner(setup_cfg(args))
    if args.out is not None:
        runner.test_evaluator.metrics.append(DumpDetResults(out_file_path=args.out))
    metrics, filled = fill_empty_coco(runner.test() or {}, runner.cfg.get("test_evaluator"))

    if is_main_process():
        path = osp.join(runner.work_dir, METRICS_FILE)
        with open(path, "w") as f:
            # Metrics other than CocoMetric's may hold numpy scalars.
            json.dump(metrics, f, indent=2, sort_keys=True,
                      default=lambda v: v.item() if hasattr(v, "item") else str(v))
        runner.logger.info(f"metrics written to {path}")
        if filled:
            runner.logger.warning(
                f"no prediction above the score threshold on any test image: {', '.join(filled)} "
                "AP written as 0.0 (an untrained or barely trained model; lower "
                "model.test_cfg.*.score_thr with --cfg-options to look at its weak detections)")
        if args.show_dir:
            # runner.work_dir is absolute, so this is where DetVisualizationHook drew.
            shown = osp.join(runner.work_dir, runner.timestamp, args.show_dir)
            runner.logger.info(f"images with predictions drawn in {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
