"""``orchestrator``: the command line, one table of commands (:data:`COMMANDS`).

Each row names a command, its help, the function that adds its arguments and the function
that runs it (``args -> exit code``). Building the parser imports nothing heavy (no torch,
mlflow or ray): the actions are imported when their command runs, so ``orchestrator --help``
is instant. ``bench``'s arguments are the benchmark harness's own
(:func:`benchmarks.harness.cli.add_arguments`), ``table`` and ``figure``'s are
:mod:`analysis.cli`'s.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from analysis import cli as analysis_cli
from benchmarks.harness import cli as bench_cli

from .run.study_lock import StudyBusy
from .study.errors import StudyError

Arguments = Callable[[argparse.ArgumentParser], None]


def _shared(p: argparse.ArgumentParser) -> None:
    """``--workspace`` and ``--tracking-uri`` after the command (SUPPRESS: a value given
    before the command is kept)."""
    p.add_argument("--workspace", default=argparse.SUPPRESS,
                   help="workspace folder (default: $CM_WORKSPACE or .workspace/ in the repo)")
    p.add_argument("--tracking-uri", default=argparse.SUPPRESS,
                   help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or "
                        "sqlite:///<workspace>/mlflow.db)")


def _study(p: argparse.ArgumentParser) -> None:
    p.add_argument("study", help="study file; looked up under experiments/ when not found "
                                 "as given (studies/smoke.yaml)")
    p.add_argument("--profile", default=None, help="study profile (default: its default)")
    p.add_argument("--set", action="append", default=None, metavar="KEY=VALUE",
                   help="override a config key for every job (YAML value, checked like a "
                        "study patch; repeatable): an ad-hoc study '<name>+<digest>'")
    p.add_argument("--sweep", action="append", default=None, metavar="KEY=V1,V2,...",
                   help="one job per value of a config key, crossed with the study's jobs "
                        "(repeatable): an ad-hoc study '<name>+<digest>'")
    p.add_argument("--weights-dir", default=None,
                   help="folder of the published weights files of an evaluation profile "
                        "(overrides its evaluate.weights_dir; also $CM_WEIGHTS_DIR)")
    p.add_argument("--allow-outside-configs", action="store_true",
                   help="let the study's base and patch values name configs, files and URLs "
                        "outside the repository's configs (they run code; README 'Trust "
                        "boundary'; also $CM_ALLOW_OUTSIDE_CONFIGS=1)")
    _shared(p)


def _plan_args(p: argparse.ArgumentParser) -> None:
    _study(p)
    p.add_argument("--executor", choices=("local", "ray", "slurm"), default="local",
                   help="where the jobs will run: local plans with the visible GPUs, "
                        "slurm/ray with what the profile asks (docs/cluster.md)")
    p.add_argument("--gpus", type=int, default=None,
                   help="plan as if this many GPUs were available to a job (a profile's "
                        "batch: world size; default: visible GPUs for local)")


def _slurm_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("slurm executor (override the study's executor.slurm section)")
    for opt, what in (("partition", "partition"), ("account", "account"), ("qos", "QOS"),
                      ("time", "time limit, e.g. 24:00:00"), ("mem", "memory per node, "
                       "e.g. 64G"), ("constraint", "node features")):
        g.add_argument(f"--slurm-{opt}", default=None, help=f"sbatch --{opt}: {what}")
    g.add_argument("--sbatch", action="append", default=None, metavar="OPTION",
                   help="extra sbatch option, e.g. --sbatch=--exclusive (repeatable)")


def _run_args(p: argparse.ArgumentParser) -> None:
    _plan_args(p)
    _slurm_args(p)
    p.add_argument("--parallel", type=int, default=None,
                   help="most jobs at once (default: one per GPU share, or cores // "
                        "cpus_per_job without GPUs)")
    p.add_argument("--ray-address", default=None,
                   help="Ray cluster address for --executor ray (default: a local Ray)")
    p.add_argument("--latency-images", type=int, default=10,
                   help="images each job times for time_ms (0: skip)")
    p.add_argument("--progress", choices=("auto", "live", "plain"), default="auto",
                   help="live: a redrawn block with one line per running job (rich); plain: "
                        "log lines every 15 s; auto: live on a terminal (default)")
    p.add_argument("--system-metrics", action="store_true",
                   help="jobs log MLflow system metrics (CPU, memory, GPU; system/*) every 10 s")


def _status_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("study", nargs="?", default=None)
    _shared(p)


def _cancel_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("study")
    p.add_argument("--job", action="append", default=None, help="only this job id "
                                                                "(repeatable)")
    _shared(p)


def _retry_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("study")
    p.add_argument("--failed", action="store_true", help="requeue failed jobs (default)")
    p.add_argument("--cancelled", action="store_true", help="requeue cancelled jobs")
    _shared(p)


def _ui_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--wait", type=float, default=300.0,
                   help="seconds to wait for the server to answer before giving up (300)")
    _shared(p)


def _dashboard_args(p: argparse.ArgumentParser) -> None:
    _study(p)
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--wait", type=float, default=120.0,
                   help="seconds to wait for the server to answer before giving up (120)")


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", choices=("toy",))
    p.add_argument("toy_args", nargs=argparse.REMAINDER,
                   help="--out DIR [--num-train N --num-val N --size H W --seed S]")


@dataclass(frozen=True)
class Command:
    """One row of the table.

    Attributes:
        name: The subcommand.
        help: One line for ``orchestrator --help``.
        arguments: Adds the command's arguments to its parser.
        action: ``module:function`` run with the parsed arguments (imported on use).
        description: Longer text for ``orchestrator NAME --help``.
    """

    name: str
    help: str
    arguments: Arguments
    action: str
    description: str | None = None


_RUN = "orchestrator.run.commands"
_QUEUE = "orchestrator.run.queue_commands"
COMMANDS: tuple[Command, ...] = (
    Command("run", "plan, queue and run a study (resumes; idempotent)", _run_args,
            "orchestrator.run.run_command:cmd_run"),
    Command("plan", "dry run: jobs, config diffs, hashes, cache hits, time estimates",
            _plan_args, "orchestrator.run.plan_command:cmd_plan"),
    Command("status", "jobs of a study (or every study) in the queue", _status_args,
            f"{_QUEUE}:cmd_status"),
    Command("cancel", "cancel a study's queued and running jobs", _cancel_args,
            f"{_QUEUE}:cmd_cancel"),
    Command("retry", "requeue failed (or cancelled) jobs of a study", _retry_args,
            f"{_QUEUE}:cmd_retry"),
    Command("ui", "MLflow UI on 127.0.0.1 over the workspace's store", _ui_args,
            f"{_RUN}:cmd_ui"),
    Command("data", "data sets: 'data toy --out DIR' writes the toy set", _data_args,
            f"{_RUN}:cmd_data"),
    Command("table", "print a study's paper table from its MLflow runs",
            analysis_cli.add_table_arguments, "analysis.cli:cmd_table",
            analysis_cli.TABLE_DESCRIPTION),
    Command("figure", "draw Figure 1 (mask AP vs inference time) for a study",
            analysis_cli.add_figure_arguments, "analysis.cli:cmd_figure",
            analysis_cli.FIGURE_DESCRIPTION),
    Command("trials", "a search study's trials, best config and parameter importances",
            _study, "orchestrator.search.commands:cmd_trials"),
    Command("dashboard", "optuna-dashboard over a search study's Optuna storage (trials "
            "link their MLflow runs)", _dashboard_args,
            "orchestrator.search.commands:cmd_dashboard"),
    Command("bench", "latency (stage breakdown), throughput and memory of configs",
            bench_cli.add_arguments, f"{_RUN}:cmd_bench", bench_cli.DESCRIPTION),
)


def _action(path: str) -> Callable[[argparse.Namespace], Any]:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def build_parser(commands: Sequence[Command] = COMMANDS) -> argparse.ArgumentParser:
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
    for c in commands:
        p = sub.add_parser(c.name, help=c.help, description=c.description or c.help)
        c.arguments(p)
        p.set_defaults(action=c.action)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command ``argv`` names; its exit status (2: the study was rejected or is being
    run in another version -- the message says which, and nothing was queued)."""
    args = build_parser().parse_args(argv)
    try:
        return int(_action(args.action)(args) or 0)
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except (StudyError, StudyBusy) as exc:
        print(exc, flush=True)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
