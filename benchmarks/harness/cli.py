"""The ``bench`` command: ``orchestrator bench ...`` or ``python -m benchmarks.harness ...``.

Examples::

    # CenterMask R-50 against its own FCOS and mmdet's Mask R-CNN, CPU, 4 threads
    python -m benchmarks.harness \\
        configs/centermask/centermask_r50_fpn_1x_coco.py \\
        configs/centermask/fcos_r50_fpn_gn-head-centermask_1x_coco.py \\
        mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py \\
        --device cpu --threads 4 --runs 20 --out bench.json

    # per-model input size and label: [LABEL=]CONFIG[@HxW]
    python -m benchmarks.harness \\
        lite=configs/centermask/centermask-lite_v2-19_fpn_4x_coco.py@600x1000 \\
        v2-39=configs/centermask/centermask_v2-39_fpn_1x_coco.py@800x1216
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DESCRIPTION = (
    "Measure inference latency per image at batch 1 (median / p90 after warm-up, with a "
    "stage breakdown and a fixed detection count), training-step throughput and peak "
    "memory of one or more configs, all in this process, with random weights and "
    "synthetic inputs. Prints tables; --out writes the JSON record.")

#: The speed switches, ``--fuse-conv-bn`` etc. (``BenchSettings.options`` keys, the names of
#: :data:`.options.OPTION_NAMES`, which imports torch), and what each measures in addition.
SWITCHES: dict[str, str] = {
    "fuse_conv_bn": "conv+BN fused in backbone and neck",
    "channels_last": "backbone and neck in channels-last",
    "bf16": "backbone and neck under bf16 autocast",
    "compile": "torch.compile of backbone and neck",
}


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``bench`` options (shared by the orchestrator subcommand and ``python -m``)."""
    p.add_argument("models", nargs="+", metavar="CONFIG",
                   help="[LABEL=]CONFIG[@HxW]: a config path or mmdet::name, optionally "
                        "labelled and with its own input size; ratios are against the first")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="auto = cuda when available (default: auto)")
    p.add_argument("--shape", nargs=2, type=_positive, default=(800, 1216), metavar=("H", "W"),
                   help="network input before padding (default: 800 1216)")
    p.add_argument("--ori-shape", nargs=2, type=_positive, default=None, metavar=("H", "W"),
                   help="original image size the masks are pasted into (default: --shape)")
    p.add_argument("--runs", type=_positive, default=20, help="timed runs (default: 20)")
    p.add_argument("--warmup", type=_non_negative, default=None,
                   help="untimed runs first (default: 5 on CPU, 50 on CUDA)")
    p.add_argument("--stage-runs", type=_non_negative, default=None,
                   help="runs with the stage timer (default: --runs; 0 = no breakdown)")
    p.add_argument("--threads", type=_positive, default=None,
                   help="torch.set_num_threads (default: torch's choice; recorded)")
    p.add_argument("--train-steps", type=_non_negative, default=3,
                   help="timed training steps after 1 warm-up step (default: 3; 0 = skip)")
    p.add_argument("--train-batch", type=_positive, default=2,
                   help="images per training step (default: 2, mmdet's memory convention)")
    p.add_argument("--train-shape", nargs=2, type=_positive, default=None, metavar=("H", "W"),
                   help="training image size (default: the model's inference size)")
    p.add_argument("--no-fixed-count", action="store_true",
                   help="do not force the test-time top-k detections (random weights then "
                        "give an arbitrary count)")
    for name, what in SWITCHES.items():
        p.add_argument("--" + name.replace("_", "-"), action="store_true",
                       help=f"also measure with {what}")
    p.add_argument("--each-option", action="store_true",
                   help="measure every requested switch on its own instead of all together")
    p.add_argument("--no-interleave", action="store_true",
                   help="do not time the models again in turns (A, B, A, B ...) for the ratios")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic inputs")
    p.add_argument("--out", type=Path, default=None, help="write the JSON record here")
    p.add_argument("--markdown", type=Path, default=None, help="write the tables here")
    p.add_argument("--profile", type=Path, default=None, metavar="DIR",
                   help="also write operator / Python profiles of one run per model to DIR")
    p.add_argument("--run-id", default=None,
                   help="log the first model's time_ms and cm.time_hardware to this MLflow run")
    p.add_argument("--tracking-uri", default=argparse.SUPPRESS,
                   help="MLflow tracking URI for --run-id (default: $MLFLOW_TRACKING_URI; "
                        "under `orchestrator bench`, the workspace's store)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def register(subparsers: Any) -> None:
    """Add the ``bench`` subcommand to an ``argparse`` subparsers object (sets ``func``)."""
    p = subparsers.add_parser("bench", help="latency / throughput / memory of configs",
                              description=DESCRIPTION)
    add_arguments(p)
    p.set_defaults(func=cmd_bench)


def build_parser(prog: str = "python -m benchmarks.harness") -> argparse.ArgumentParser:
    """Stand-alone parser of ``python -m benchmarks.harness`` (or another ``prog``)."""
    p = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    add_arguments(p)
    p.set_defaults(func=cmd_bench)
    return p


def _tracking_uri(args: argparse.Namespace) -> str | None:
    """``--tracking-uri``, else ``$MLFLOW_TRACKING_URI``, else MLflow's default
    (``orchestrator bench`` fills in its workspace's store)."""
    import os

    return getattr(args, "tracking_uri", None) or os.environ.get("MLFLOW_TRACKING_URI")


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the benchmark described by ``args``; exit code 1 if any model failed."""
    import torch

    from .bench import BenchSettings, ModelSpec, run_benchmark
    from .report import format_report, log_to_mlflow, write_json

    try:
        specs = [ModelSpec.parse(m) for m in args.models]
    except ValueError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device == "cuda" and not torch.cuda.is_available():
        print("bench: --device cuda but torch.cuda.is_available() is False", file=sys.stderr)
        return 2
    warmup = args.warmup if args.warmup is not None else (50 if device == "cuda" else 5)
    settings = BenchSettings(
        device=device, shape=tuple(args.shape), runs=args.runs, warmup=warmup,
        ori_shape=tuple(args.ori_shape) if args.ori_shape else None,
        stage_runs=args.stage_runs, threads=args.threads,
        fixed_count=not args.no_fixed_count, train_steps=args.train_steps,
        train_batch=args.train_batch,
        train_shape=tuple(args.train_shape) if args.train_shape else None,
        options={name: getattr(args, name) for name in SWITCHES},
        each_option=args.each_option, seed=args.seed, interleave=not args.no_interleave)

    def log(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    result = run_benchmark(specs, settings, argv=sys.argv, log=log)
    text = format_report(result)
    print(text)
    if args.out:
        log(f"[bench] wrote {write_json(result, args.out)}")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(text + "\n")
    if args.profile:
        _write_profiles(specs, settings, args.profile, log)
    if args.run_id:
        import mlflow

        client = mlflow.MlflowClient(tracking_uri=_tracking_uri(args))
        logged = log_to_mlflow(result, args.run_id, client)
        log(f"[bench] logged time_ms={logged['time_ms']:.1f} to run {args.run_id}")
    return 1 if any(e.get("error") for e in result["models"]) else 0


def _write_profiles(specs: Sequence[Any], settings: Any, out: Path, log: Any) -> None:
    from .profiling import profile_inference

    out.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        shape = spec.shape or settings.shape
        try:
            prof = profile_inference(spec.config, shape, 1, settings.device,
                                     fixed_count=settings.fixed_count,
                                     ori_shape=settings.ori_shape)
        except Exception as exc:  # noqa: BLE001 - profiles are extras
            log(f"[bench] {spec.label}: profile failed: {type(exc).__name__}: {exc}")
            continue
        path = out / f"{spec.label.replace('/', '_')}.txt"
        path.write_text(f"# {spec.config} at {shape[0]}x{shape[1]}\n\n## operators\n"
                        f"{prof['ops']}\n\n## python functions\n{prof['python']}\n")
        log(f"[bench] wrote {path}")


def main(argv: Sequence[str] | None = None,
         prog: str = "python -m benchmarks.harness") -> int:
    """Entry point of ``python -m benchmarks.harness``; ``prog`` names it in help."""
    args = build_parser(prog).parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
