"""Backbone forward latency: VoVNetV1-39 vs VoVNetV2-39 vs mmdet ResNet-50.

Batch 1, inference mode, C3-C5 outputs (as CenterMask uses them), frozen-BN backbones
in eval mode, random weights. Each model gets ``--warmup`` untimed runs, then the
median of ``--repeats`` timed runs is reported, with the ratios between models.

The paper's Table 4 times (68 ms V1-39, 70 ms V2-39) are whole CenterMask models on a
Titan Xp; this script isolates the backbones on whatever device it runs on, so compare
ratios, not absolute numbers.

Example (the full measurement; run it on a quiet machine)::

    python benchmarks/bench_backbones.py --threads 4 --repeats 30 --out bench_backbones.json

Quick check that it works::

    python benchmarks/bench_backbones.py --height 128 --width 192 --warmup 1 --repeats 2
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

FROZEN_BN = dict(type='BN', requires_grad=False)
MODELS_TO_BENCH: dict[str, dict[str, Any]] = {
    'v1-39': dict(type='VoVNet', arch='V-39', residual=False, attention=None,
                  out_indices=(1, 2, 3), norm_cfg=FROZEN_BN),
    'v2-39': dict(type='VoVNet', arch='V-39', residual=True, attention='ese',
                  out_indices=(1, 2, 3), norm_cfg=FROZEN_BN),
    'r50': dict(type='ResNet', depth=50, out_indices=(1, 2, 3), frozen_stages=1,
                norm_cfg=FROZEN_BN, norm_eval=True, style='pytorch'),
    'v2-19': dict(type='VoVNet', arch='V-19', out_indices=(1, 2, 3), norm_cfg=FROZEN_BN),
    'v2-57': dict(type='VoVNet', arch='V-57', out_indices=(1, 2, 3), norm_cfg=FROZEN_BN),
    'v2-99': dict(type='VoVNet', arch='V-99', out_indices=(1, 2, 3), norm_cfg=FROZEN_BN),
}
RATIOS = (('v2-39', 'v1-39'), ('v1-39', 'r50'), ('v2-39', 'r50'))


def time_model(model: torch.nn.Module, x: torch.Tensor, warmup: int, repeats: int,
               device: torch.device) -> list[float]:
    """Return ``repeats`` forward latencies in milliseconds, after ``warmup`` runs."""
    times = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            if device.type == 'cuda':
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            model(x)
            if device.type == 'cuda':
                torch.cuda.synchronize(device)
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1e3)
    return times


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; prints a table and ratios, optionally writes JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--models', nargs='+', default=['v1-39', 'v2-39', 'r50'],
                        choices=sorted(MODELS_TO_BENCH))
    parser.add_argument('--height', type=int, default=800)
    parser.add_argument('--width', type=int, default=1216)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--repeats', type=int, default=20, help='timed runs (median)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch.set_num_threads (default: torch default)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', type=Path, default=None, help='JSON results path')
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0:
        parser.error('--repeats must be >= 1 and --warmup >= 0')

    from mmdet.registry import MODELS

    import centermask_mm  # noqa: F401  (registers VoVNet)
    from benchmarks.harness.hardware import cpu_model_name
    from centermask_mm.utils import count_params

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    x = torch.randn(1, 3, args.height, args.width, device=device)

    results: dict[str, dict] = {}
    for name in args.models:
        model = MODELS.build(dict(MODELS_TO_BENCH[name])).to(device)
        model.eval()  # not chained: mmdet ResNet.train() returns None
        times = time_model(model, x, args.warmup, args.repeats, device)
        results[name] = dict(
            config=MODELS_TO_BENCH[name], median_ms=statistics.median(times),
            min_ms=min(times), max_ms=max(times), times_ms=times,
            params_m=count_params(model) / 1e6)
        print(f"{name:>6}: median {results[name]['median_ms']:8.1f} ms  "
              f"(min {min(times):.1f}, max {max(times):.1f}, n={len(times)})  "
              f"params {results[name]['params_m']:.3f} M (FrozenBN)")
        del model

    ratios = {f'{a}/{b}': results[a]['median_ms'] / results[b]['median_ms']
              for a, b in RATIOS if a in results and b in results}
    for key, value in ratios.items():
        print(f'{key}: {value:.3f}')
    record = dict(
        input=[1, 3, args.height, args.width], warmup=args.warmup, repeats=args.repeats,
        threads=torch.get_num_threads(), device=str(device),
        hardware=(torch.cuda.get_device_name(device) if device.type == 'cuda'
                  else cpu_model_name()),
        torch=torch.__version__, python=platform.python_version(),
        results=results, ratios=ratios)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=2) + '\n')
        print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
