"""``orchestrator bench``: the benchmark harness of :mod:`centermask_mm.benchmark`.

Registration stays lazy: torch and mmdet are imported only when the command runs, so the
other subcommands keep an instant start. All arguments go to the harness unchanged.
"""
from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "bench", add_help=False, prefix_chars="\0",
        help="latency (stage breakdown), throughput and memory of configs "
             "(orchestrator bench --help)")
    p.add_argument("argv", nargs=argparse.REMAINDER)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from centermask_mm.benchmark.cli import main

    uri = getattr(args, "tracking_uri", None)
    extra = ["--tracking-uri", uri] if uri else []
    return int(main([*args.argv, *extra], prog="orchestrator bench") or 0)
