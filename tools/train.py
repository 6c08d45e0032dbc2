#!/usr/bin/env python
"""Train one detector config, with the centermask_mm plugins registered.

The interface is mmdet 3's ``tools/train.py``, so the usual commands work unchanged::

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--auto-scale-lr] [--cfg-options KEY=VALUE ...] [--launcher pytorch]
    mim train centermask_mm CONFIG [same flags]
    tools/dist_train.sh CONFIG GPUS [same flags]

Outputs go to the work directory (``--work-dir``, else ``work_dir`` in the config, else
``./work_dirs/<config name>``): checkpoints (``iter_N.pth`` / ``epoch_N.pth``),
``last_checkpoint``, and one ``<timestamp>/`` folder per run with the log, the resolved
config and the logged scalars (``vis_data/``).
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

# Only the shared flag handling (argparse, mmengine's DictAction) is imported at module
# level: `mim train` runs this script with -h before training, and torch/mmdet take
# seconds to import.
import _cli_common

if TYPE_CHECKING:
    from mmengine.config import Config


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse mmdet's training flags; a missing config file is a usage error."""
    parser = argparse.ArgumentParser(
        description="Train a detector (mmdet 3 interface) with centermask_mm registered.")
    parser.add_argument("config", help="train config file path")
    parser.add_argument("--work-dir", help="the dir to save logs and models")
    parser.add_argument("--amp", action="store_true",
                        help="automatic mixed precision (AmpOptimWrapper, dynamic loss "
                             "scale); needs a GPU")
    parser.add_argument("--auto-scale-lr", action="store_true",
                        help="scale the LR by total batch size / auto_scale_lr.base_batch_size")
    parser.add_argument("--resume", nargs="?", type=str, const="auto",
                        help="resume from this checkpoint; without a path, from the latest "
                             "checkpoint in the work dir")
    args = _cli_common.parse_runner_args(parser, argv)
    if args.resume not in (None, "auto") and not osp.isfile(args.resume):
        parser.error(f"--resume checkpoint not found: {args.resume}")
    return args


def setup_cfg(args: argparse.Namespace) -> Config:
    """Load ``args.config`` and apply the command-line flags to it.

    Precedence: ``--cfg-options`` override the file; ``--work-dir`` overrides both
    (``_cli_common.load_cfg``).

    Raises:
        KeyError: ``--auto-scale-lr`` with a config that has no
            ``auto_scale_lr.base_batch_size``, or ``--amp`` without ``optim_wrapper``.
    """
    cfg = _cli_common.load_cfg(args)
    if args.amp:
        if cfg.get("optim_wrapper") is None:
            raise KeyError(f"--amp: {args.config} has no optim_wrapper to switch to AMP")
        cfg.optim_wrapper.type = "AmpOptimWrapper"
        cfg.optim_wrapper.loss_scale = "dynamic"

    if args.auto_scale_lr:
        asl = cfg.get("auto_scale_lr")
        if asl is None or "base_batch_size" not in asl:
            raise KeyError(
                f"--auto-scale-lr: {args.config} has no auto_scale_lr.base_batch_size; add "
                "auto_scale_lr = dict(enable=False, base_batch_size=<total batch of the LR>)")
        asl.enable = True

    # An explicit checkpoint wins over auto-resume from the work dir.
    if args.resume == "auto":
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def main(argv: Sequence[str] | None = None) -> int:
    """Train; returns the process exit status."""
    args = parse_args(argv)
    # Importing centermask_mm (build_runner does) lets torch >= 2.6 load mmengine's
    # checkpoints with weights_only=True (centermask_mm.utils.register_checkpoint_safe_globals).
    from centermask_mm.utils import build_runner
    runner = build_runner(setup_cfg(args))
    runner.train()
    return 0


if __name__ == "__main__":
    sys.exit(main())
