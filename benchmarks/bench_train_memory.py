"""Peak memory of one training step: SAIS vs CenterMask vs mmdet's YOLACT.

The SAIS paper's main claim (Table IV, "Mem(GB)") is a smaller training-memory
footprint than anchor-based YOLACT and two-stage methods. This script measures the peak
memory of a full training step (data preprocessing, forward, losses, backward,
optimizer update) of each model at the **same input size and batch**, on synthetic
inputs with the same ground truth, each model in a fresh subprocess.

What is measured:

* CUDA: ``torch.cuda.max_memory_allocated`` over the measured step, after one warm-up
  step (so gradients and optimizer state exist, as in steady-state training). This is
  the number mmdetection logs as ``memory`` and the paper reports as Mem(GB). Also the
  part above what was allocated before the step (activations and temporaries).
* CPU: the process's peak resident set size (``ru_maxrss``) minus the RSS after the
  imports, i.e. model + gradients + optimizer state + the step's peak activations; and
  minus the RSS after the model and the batch were built (the steps' part). RSS also
  counts allocator caching, so CPU numbers are coarser than CUDA's; compare models
  measured the same way.

Weights are random (``init_cfg=None``; nothing is downloaded) unless ``--checkpoint``
is given. Branches whose size depends on the detections (CenterMask's mask head trains
on FCOS detections that match a GT) are at their random-init size: a lower bound for
CenterMask. Load trained weights with ``--checkpoint NAME=PATH`` for steady state.

The measurement (a GPU machine, the paper's SAIS-768 setting, 2 images per GPU)::

    python benchmarks/bench_train_memory.py --device cuda --size 768 768 --batch 2 \
        --out work_dirs/bench_train_memory.json

A quick check that it works (CPU, small input)::

    python benchmarks/bench_train_memory.py --size 256 256 --batch 1 --num-gt 3 \
        --out /tmp/bench_train_memory.json

Output: JSON with one record per model (peak MB, parameters, step time) and the peak
of each model relative to the first one.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODELS = {
    'sais': 'configs/sais/sais_r50-caffe_fpn_768_1x_coco.py',
    'centermask': 'configs/centermask/centermask_r50_fpn_1x_coco.py',
    'yolact': 'mmdet::yolact/yolact_r50_1xb8-55e_coco.py',
}
MB = 1024 ** 2


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--models', nargs='+', default=list(DEFAULT_MODELS),
                   help=f'names from {list(DEFAULT_MODELS)} or NAME=CONFIG '
                        '(a path, or mmdet::... for mmdet configs)')
    p.add_argument('--checkpoint', nargs='*', default=[], metavar='NAME=PATH',
                   help='trained weights for a model (steady-state branch sizes)')
    p.add_argument('--size', nargs=2, type=int, default=(768, 768), metavar=('H', 'W'),
                   help='input height and width, the same for every model (default 768 768)')
    p.add_argument('--batch', type=int, default=2, help='images per step (default 2)')
    p.add_argument('--num-gt', type=int, default=7,
                   help='ground-truth instances per image (COCO averages ~7; default 7)')
    p.add_argument('--num-classes', type=int, default=None,
                   help='classes the random GT labels are drawn from (default: the '
                        "model's own; at least 2, mmdet's demo inputs skip label 0)")
    p.add_argument('--device', choices=('cpu', 'cuda'), default='cpu')
    p.add_argument('--threads', type=int, default=2, help='CPU threads (default 2)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', type=Path, default=None, help='write the JSON here')
    p.add_argument('--child', nargs=2, metavar=('NAME', 'CONFIG'), help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _peak_rss_mb() -> float:
    import resource

    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _resolve_config(spec: str) -> str:
    """Path of a config given as a repo path or ``mmdet::relative/path.py``."""
    if '::' in spec:
        from benchmarks.harness.models import BenchConfigError, resolve_config

        try:
            return str(resolve_config(spec))
        except BenchConfigError as exc:
            raise SystemExit(f'bench_train_memory: {exc}') from exc
    path = Path(spec) if Path(spec).is_absolute() else REPO / spec
    if not path.is_file():
        raise SystemExit(f'bench_train_memory: config not found: {spec} ({path})')
    return str(path)


def label_classes(name: str, model_cfg: Any, wanted: int | None) -> int:
    """Classes to draw random GT labels from: ``wanted`` or the model's own (the smallest
    ``num_classes`` in its config). A label the model cannot predict fails inside its loss,
    so a count outside [2, model's] is refused here, naming the model."""
    def counts(node: Any) -> list[int]:
        if isinstance(node, dict):
            own = [node['num_classes']] if isinstance(node.get('num_classes'), int) else []
            return own + [c for v in node.values() for c in counts(v)]
        if isinstance(node, list | tuple):
            return [c for v in node for c in counts(v)]
        return []

    found = counts(model_cfg)
    model_classes = min(found) if found else None
    n = wanted if wanted is not None else model_classes
    if n is None:
        raise SystemExit(f'bench_train_memory: {name}: its config names no num_classes; '
                         f'pass --num-classes')
    # mmdet's demo_mm_inputs draws labels from [1, n): n = 1 leaves nothing to draw.
    if n < 2 or (model_classes is not None and n > model_classes):
        raise SystemExit(f'bench_train_memory: {name}: --num-classes {n} must be between 2 '
                         f'and the model\'s {model_classes} classes')
    return n


def measure(name: str, config: str, args: argparse.Namespace) -> dict:
    """Build one model and measure a training step; runs inside the child process."""
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    sys.path.insert(0, str(REPO))
    from mmdet.registry import MODELS
    from mmdet.testing import demo_mm_inputs
    from mmdet.utils import register_all_modules
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmengine.runner import load_checkpoint

    import centermask_mm  # noqa: F401
    from benchmarks.harness.memory import current_rss_mb
    from benchmarks.harness.models import strip_pretrained

    register_all_modules()
    device = torch.device(args.device)
    rss_import = current_rss_mb()

    cfg = Config.fromfile(_resolve_config(config))
    strip_pretrained(cfg.model)
    model = MODELS.build(cfg.model)
    model.init_weights()
    ckpts = dict(c.split('=', 1) for c in args.checkpoint)
    if name in ckpts:
        load_checkpoint(model, ckpts[name], map_location='cpu', strict=False)
    model.to(device).train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    h, w = args.size
    packed = demo_mm_inputs(args.batch, [[3, h, w]] * args.batch,
                            num_items=[args.num_gt] * args.batch,
                            num_classes=label_classes(name, cfg.model, args.num_classes),
                            with_mask=True)

    def step() -> float:
        start = time.perf_counter()
        model.train_step(packed, optim_wrapper)
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    rss_model = current_rss_mb()
    record = dict(model=name, config=config, device=args.device,
                  input_hw=[h, w], batch=args.batch, num_gt=args.num_gt,
                  params_m=round(sum(p.numel() for p in model.parameters()) / 1e6, 2))
    warmup_s = step()  # creates gradients and optimizer state
    if device.type == 'cuda':
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        step_s = step()
        peak = torch.cuda.max_memory_allocated(device)
        record.update(peak_mb=round(peak / MB, 1), step_peak_above_start_mb=round(
            (peak - before) / MB, 1), gpu=torch.cuda.get_device_name(device))
    else:
        step_s = step()
        peak_rss = _peak_rss_mb()
        record.update(peak_mb=round(peak_rss - rss_import, 1),
                      step_peak_above_start_mb=round(peak_rss - rss_model, 1),
                      peak_rss_mb=round(peak_rss, 1), rss_after_import_mb=round(rss_import, 1))
    record.update(warmup_step_s=round(warmup_s, 2), step_s=round(step_s, 2))
    return record


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.child:
        name, config = args.child
        print('BENCH_RECORD ' + json.dumps(measure(name, config, args)), flush=True)
        return 0

    models: dict[str, str] = {}
    for item in args.models:
        name, _, config = item.partition('=')
        if not config:
            if name not in DEFAULT_MODELS:
                raise SystemExit(f'bench_train_memory: unknown model {name!r}; use one of '
                                 f'{list(DEFAULT_MODELS)} or NAME=CONFIG')
            config = DEFAULT_MODELS[name]
        models[name] = config

    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads))
    passthrough = list(argv if argv is not None else sys.argv[1:])
    records: list[dict[str, Any]] = []
    for name, config in models.items():
        if not config.startswith('mmdet::'):
            _resolve_config(config)  # fail before any child starts
        cmd = [sys.executable, __file__, *passthrough, '--child', name, config]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith('BENCH_RECORD ')]
        if proc.returncode != 0 or not lines:
            tail = '\n'.join(proc.stderr.strip().splitlines()[-15:])
            records.append(dict(model=name, config=config, error=tail or 'no output'))
            print(f'{name}: FAILED\n{tail}', file=sys.stderr)
            continue
        record = json.loads(lines[-1][len('BENCH_RECORD '):])
        records.append(record)
        print(f"{name}: peak {record['peak_mb']} MB (step part "
              f"{record['step_peak_above_start_mb']} MB), {record['params_m']} M params, "
              f"step {record['step_s']} s", flush=True)

    ok = [r for r in records if 'peak_mb' in r]
    if ok:
        ref = ok[0]
        for r in ok:
            r['peak_vs_' + ref['model']] = round(r['peak_mb'] / ref['peak_mb'], 2)
    result = dict(command=' '.join([Path(sys.executable).name, *sys.argv]),
                  host=platform.node(), python=platform.python_version(),
                  metric=('torch.cuda.max_memory_allocated' if args.device == 'cuda'
                          else 'peak RSS (ru_maxrss) minus RSS after imports'),
                  records=records)
    text = json.dumps(result, indent=1)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    print(text)
    return 0 if len(ok) == len(records) else 1


if __name__ == '__main__':
    raise SystemExit(main())
