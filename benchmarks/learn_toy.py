""""It learns": train toy models from scratch under a wall-clock budget and compare them.

Trains CenterMask-Lite (VoVNetV2-19-slim) and mmdet's Mask R-CNN with the same backbone on
the synthetic toy set (``centermask_mm.datasets.toy``, 200 train / 50 val images of 256 x
256 px by default), each for the same *training* wall-clock budget on the same number of
CPU threads, evaluating bbox and segm mAP (mmdet ``CocoMetric``) on the val split along the
way. The learning rate follows a warm-up then a cosine decay over the *time* budget, so a
slower model is not cut off at a high learning rate. Evaluation time is not counted in the
budget (it is reported separately).

The issue's measurement (on a quiet machine, 2 cores)::

    taskset -c 0,1 .venv/bin/python benchmarks/learn_toy.py --budget-min 15 --threads 2 \
        --out work_dirs/learn_toy

A 1-2 minute check that the script and both models run (numbers meaningless)::

    .venv/bin/python benchmarks/learn_toy.py --budget-min 0.5 --eval-every-min 0.25 \
        --num-train 16 --num-val 8 --out /tmp/learn_toy_smoke

Output: ``OUT/<model>/curve.json`` (one point per evaluation: training seconds, iterations,
mAPs), ``OUT/summary.json`` and ``OUT/summary.md`` (the README table rows), also printed.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

TOY_CONFIGS = REPO / "configs/centermask/toy"
DEFAULT_MODELS = {
    "centermask-lite_v2-19-slim": TOY_CONFIGS / "centermask-lite_v2-19-slim_fpn_toy.py",
    "mask-rcnn_v2-19-slim": TOY_CONFIGS / "mask-rcnn_v2-19-slim_fpn_toy.py",
}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--budget-min", type=float, default=15.0,
                   help="training wall-clock budget per model, minutes (default 15)")
    p.add_argument("--eval-every-min", type=float, default=3.0,
                   help="evaluate on val every this many training minutes (default 3)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS),
                   help=f"names from {list(DEFAULT_MODELS)} or NAME=CONFIG_PATH")
    p.add_argument("--data-root", default=str(REPO / "data/toy"),
                   help="toy set root; generated there if missing (default data/toy)")
    p.add_argument("--num-train", type=int, default=200)
    p.add_argument("--num-val", type=int, default=50)
    p.add_argument("--warmup-iters", type=int, default=100)
    p.add_argument("--min-lr-ratio", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(REPO / "work_dirs/learn_toy"))
    p.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE",
                   help="config overrides applied to every model, e.g. "
                        "train_dataloader.batch_size=8")
    return p.parse_args(argv)


def _resolve_models(names: list[str]) -> dict[str, Path]:
    models: dict[str, Path] = {}
    for item in names:
        if "=" in item:
            name, path = item.split("=", 1)
            models[name] = Path(path)
        elif item in DEFAULT_MODELS:
            models[item] = DEFAULT_MODELS[item]
        else:
            raise SystemExit(f"learn_toy: unknown model {item!r}; use one of "
                             f"{list(DEFAULT_MODELS)} or NAME=CONFIG_PATH")
        if not models[item.split("=", 1)[0]].is_file():
            raise SystemExit(f"learn_toy: config not found: {models[item.split('=', 1)[0]]}")
    return models


def _make_budget_hook(budget_s: float, eval_every_s: float, warmup_iters: int,
                      min_lr_ratio: float, curve: list[dict]) -> Any:
    """A ``TimeBudgetHook``: an mmengine ``Hook`` subclass, defined here because mmengine
    (and torch) may only be imported after :func:`main` has fixed the thread counts."""
    from mmengine.hooks import Hook

    class TimeBudgetHook(Hook):
        """Time-based LR schedule, periodic evaluation and a stop at the budget."""

        priority = "VERY_LOW"

        def before_train(self, runner: Any) -> None:
            self.base_lrs = [g["lr"] for g in runner.optim_wrapper.param_groups]
            self.t0 = time.perf_counter()
            self.eval_s = 0.0
            self.next_eval = eval_every_s

        def train_seconds(self) -> float:
            return time.perf_counter() - self.t0 - self.eval_s

        def before_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None
                              ) -> None:
            frac = min(self.train_seconds() / budget_s, 1.0)
            factor = min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * frac))
            if runner.iter < warmup_iters:
                factor *= 0.01 + 0.99 * runner.iter / warmup_iters
            for group, base in zip(runner.optim_wrapper.param_groups, self.base_lrs,
                                   strict=True):
                group["lr"] = base * factor

        def after_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None,
                             outputs: dict | None = None) -> None:
            spent = self.train_seconds()
            if spent >= budget_s:
                runner.train_loop.stop_training = True
                return
            if spent >= self.next_eval:
                # runner.iter counts this iteration only after the hooks have run
                self.evaluate(runner, spent, runner.iter + 1)
                self.next_eval += eval_every_s

        def evaluate(self, runner: Any, spent: float, iters: int) -> dict:
            t = time.perf_counter()
            metrics = runner.val_loop.run()
            self.eval_s += time.perf_counter() - t
            # CocoMetric returns no metrics at all when nothing was detected: that is 0 AP.
            curve.append(dict(train_s=round(spent, 1), iters=iters,
                              bbox_mAP=float(metrics.get("coco/bbox_mAP", 0.0)),
                              segm_mAP=float(metrics.get("coco/segm_mAP", 0.0)),
                              detected=bool(metrics),
                              eval_s=round(time.perf_counter() - t, 1)))
            return metrics

    return TimeBudgetHook()


def train_one(name: str, config: Path, args: argparse.Namespace, data_root: Path,
              out: Path) -> dict:
    """Train one model under the budget; return its summary row."""
    from mmengine.config import Config

    from centermask_mm.testing import point_to_toy
    from centermask_mm.utils import build_runner, count_params

    cfg = point_to_toy(Config.fromfile(str(config)), data_root)
    if args.cfg_options:
        from mmengine.config import DictAction

        cfg.merge_from_dict({k: DictAction._parse_iterable(v) for k, v in
                             (item.split("=", 1) for item in args.cfg_options)})
    cfg.work_dir = str(out / name)
    # The hook owns the schedule, evaluation and the stop; the loop just iterates.
    cfg.train_cfg = dict(type="IterBasedTrainLoop", max_iters=10**9, val_interval=10**9)
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(type="CheckpointHook", interval=10**9, save_last=False)
    cfg.default_hooks.logger = dict(type="LoggerHook", interval=20)
    cfg.log_processor = dict(by_epoch=False)
    cfg.randomness = dict(seed=args.seed)
    curve: list[dict] = []
    hook = _make_budget_hook(args.budget_min * 60, args.eval_every_min * 60,
                             args.warmup_iters, args.min_lr_ratio, curve)
    runner = build_runner(cfg)
    runner.register_hook(hook)
    runner.train()
    spent = hook.train_seconds()
    hook.evaluate(runner, spent, runner.iter)  # the final point of the curve
    runner.save_checkpoint(cfg.work_dir, "final.pth")
    final = curve[-1]
    row = dict(model=name, config=str(config.relative_to(REPO)) if config.is_relative_to(REPO)
               else str(config), params_m=round(count_params(runner.model) / 1e6, 2),
               iters=runner.iter, train_min=round(spent / 60, 2),
               eval_min=round(hook.eval_s / 60, 2), bbox_mAP=round(100 * final["bbox_mAP"], 1),
               segm_mAP=round(100 * final["segm_mAP"], 1), curve=curve)
    (out / name).mkdir(parents=True, exist_ok=True)
    (out / name / "curve.json").write_text(json.dumps(curve, indent=1))
    return row


def _markdown(rows: list[dict], args: argparse.Namespace) -> str:
    head = (f"Toy set, {args.num_train} train / {args.num_val} val images, from scratch, "
            f"{args.budget_min:g} min training budget, {args.threads} CPU threads.\n\n"
            "| model | params (M) | iterations | bbox mAP | segm mAP | "
            "curve (train min: segm / bbox) |\n|---|---|---|---|---|---|\n")
    lines = []
    for r in rows:
        pts = ", ".join(f"{p['train_s'] / 60:.1f}: {100 * p['segm_mAP']:.1f} / "
                        f"{100 * p['bbox_mAP']:.1f}" for p in r["curve"])
        lines.append(f"| {r['model']} | {r['params_m']} | {r['iters']} | {r['bbox_mAP']} | "
                     f"{r['segm_mAP']} | {pts} |")
    return head + "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    # Thread counts must be fixed before torch starts its pools.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(REPO))
    from centermask_mm.datasets.toy import ToySpec, ensure

    models = _resolve_models(args.models)
    data_root = ensure(Path(args.data_root),
                       ToySpec(num_train=args.num_train, num_val=args.num_val))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = [train_one(name, cfg, args, data_root, out) for name, cfg in models.items()]
    summary = dict(budget_min=args.budget_min, threads=args.threads, num_train=args.num_train,
                   num_val=args.num_val, command=" ".join(sys.argv), rows=rows)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    md = _markdown(rows, args)
    (out / "summary.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
