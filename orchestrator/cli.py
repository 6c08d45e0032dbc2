"""``orchestrator``: the command line.

Subcommands come from the modules in :data:`COMMAND_MODULES`: each has
``register(subparsers)`` that adds its subparsers and sets ``func`` (``args -> exit code``)
as their default. Plugging in another module's commands is one line in that tuple; a
module that is not installed (yet) is skipped. Registration must stay cheap (no torch,
mlflow or ray imports) so ``orchestrator --help`` is instant.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

#: Modules whose ``register(subparsers)`` adds subcommands, in help order.
COMMAND_MODULES: tuple[str, ...] = (
    "orchestrator.commands",  # run, plan, status, cancel, retry, ui, data
    "analysis.cli",           # table, figure
    "orchestrator.search",    # search studies (Optuna), when present
    "orchestrator.bench",     # bench (centermask_mm.benchmark, imported lazily)
)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # parent package missing
        return False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orchestrator",
        description="Ablation studies as files: plan, queue, run and track MMDetection jobs.")
    # Shared by many subcommands; they may also be given after the subcommand.
    parser.add_argument("--workspace", default=None,
                        help="workspace folder (default: $CM_WORKSPACE or .workspace/)")
    parser.add_argument("--tracking-uri", default=None,
                        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or "
                             "sqlite:///<workspace>/mlflow.db)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        if _installed(name):
            module = importlib.import_module(name)
            if hasattr(module, "register"):
                module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
