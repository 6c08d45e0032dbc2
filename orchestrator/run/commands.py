"""What the ``orchestrator`` commands share, and the one-line commands ``ui``, ``data`` and
``bench``.

The command table is :mod:`orchestrator.cli`; the other actions live by role: ``plan``
(:mod:`.plan_command`), ``run`` (:mod:`.run_command`), ``status``, ``cancel`` and ``retry``
(:mod:`.queue_commands`). Each ``cmd_*`` takes the parsed arguments and returns the exit
status: 0 success, 1 some job failed or was cancelled. A study file the reader rejects
(:class:`~orchestrator.study.errors.StudyError`) or another version of the study being run
(:class:`~orchestrator.run.study_lock.StudyBusy`) is raised before anything is queued; the
CLI prints it and exits 2.
"""
from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path
from typing import Any

from ..study.reader import study_header
from ..workspace import REPO_ROOT, Workspace, find_study

# Heavy modules (plan -> mmengine, tracking -> mlflow, executors -> ray) are imported inside
# the commands so that `orchestrator --help` stays instant.


# MLflow prints a "View run ... at: URL" line for every run it ends; the orchestrator prints
# its own summary instead.
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")


def say(text: str = "") -> None:
    """A line of the command's output (flushed: progress is read live)."""
    print(text, flush=True)


def workspace_of(args: argparse.Namespace) -> Workspace:
    """The workspace ``--workspace`` names (default: ``$CM_WORKSPACE`` or the repo's)."""
    return Workspace.at(getattr(args, "workspace", None))


def hint(args: argparse.Namespace, command: str, *words: str, profile: str | None = None
         ) -> str:
    """``orchestrator COMMAND WORDS [--profile P] [--workspace W] [--tracking-uri U]``: a next
    command to try, carrying the workspace and store this command was given, so that it
    works as printed."""
    parts = ["orchestrator", command, *words]
    if profile:
        parts += ["--profile", profile]
    for option in ("workspace", "tracking_uri"):
        value = getattr(args, option, None)
        if value:
            parts += [f"--{option.replace('_', '-')}", str(value)]
    return shlex.join(parts)


def available_gpus(args: argparse.Namespace) -> int | None:
    """GPUs a job can use, for a profile's declared batch: ``--gpus``, else the visible ones
    for the local executor, else ``None`` (Slurm and Ray allocate what a job asks)."""
    if getattr(args, "gpus", None) is not None:
        return int(args.gpus)
    if getattr(args, "executor", "local") != "local":
        return None
    from ..executors.local import detect_gpus

    return len(detect_gpus())


def load_plan(args: argparse.Namespace, ws: Workspace) -> Any:
    """The plan of ``args.study`` under ``--profile`` (with ``--set``/``--sweep``).

    Raises:
        StudyError: The study file, an option or the plan's checks were rejected.
    """
    from ..study.plan import plan_study
    from ..study.reader import load_study

    if getattr(args, "weights_dir", None):
        # Evaluation profiles' weights folder; the environment carries it to every reader
        # of the plan (orchestrator table with $CM_WEIGHTS_DIR finds the same jobs).
        from ..study.evaluate import WEIGHTS_ENV

        os.environ[WEIGHTS_ENV] = str(Path(args.weights_dir).expanduser().resolve())
    if getattr(args, "allow_outside_configs", False):
        from ..study.trust import ENV

        os.environ[ENV] = "1"  # the user's explicit choice, for every reader of the plan
    study = with_overrides(args, load_study(find_study(args.study)))
    return plan_study(study, args.profile, workspace=ws.root, repo_root=REPO_ROOT,
                      available_gpus=available_gpus(args))


def with_overrides(args: argparse.Namespace, study: Any) -> Any:
    """The study, or the ad-hoc study its ``--set``/``--sweep`` options make of it.

    Raises:
        StudyError: A malformed option (the planner reports keys and values).
    """
    from ..study.overrides import apply_overrides, parse_overrides

    overrides = parse_overrides(getattr(args, "set", None) or (),
                                getattr(args, "sweep", None) or ())
    return apply_overrides(study, args.profile, overrides)


def banner(plan: Any) -> None:
    """The plan's first lines: study, profile, jobs, data set, notes, ranks, batch."""
    say(f"study {plan.study.name} ({plan.study.path}), profile {plan.profile.name}: "
        f"{len(plan.jobs)} job(s)")
    say(plan.dataset.banner())
    for note in plan.notes:  # e.g. rows an evaluation profile leaves out
        say(f"note: {note}")
    res = plan.profile.resources
    if res.gpus_per_job > 1 or res.procs_per_job > 1 or res.nodes_per_job > 1:
        ranks = int(res.gpus_per_job) if res.gpus_per_job > 1 else res.procs_per_job
        what = "GPU" if res.gpus_per_job > 1 else "CPU"
        say(f"each job: {ranks} data-parallel {what} process(es)"
            + (f" on {res.nodes_per_job} nodes" if res.nodes_per_job > 1 else "")
            + f", {res.cpus_per_job} thread(s) each")
    if plan.batch is not None:
        say(plan.batch.describe())
        warning = plan.batch.warning()
        if warning:
            say(warning)


def search_command(args: argparse.Namespace, name: str) -> Any:
    """:mod:`orchestrator.search.commands`' version of a command when the study is
    ``kind: search`` (the study reader's header says), else ``None``."""
    header = study_header(find_study(args.study))
    if header is None or header.kind != "search":
        return None
    from ..search import commands

    return getattr(commands, name)


def cmd_ui(args: argparse.Namespace) -> int:
    """MLflow's UI over the workspace's store; its address is printed once it answers."""
    from .ui import mlflow_page, serve_web_ui, ui_command

    uri = workspace_of(args).tracking_uri(getattr(args, "tracking_uri", None))
    say(f"MLflow store: {uri}")
    return serve_web_ui("MLflow UI", ui_command(uri, args.port), args.port, "/health",
                        mlflow_page(), args.wait, say)


def cmd_data(args: argparse.Namespace) -> int:
    from centermask_mm.datasets import toy

    return toy.main(args.toy_args)


def cmd_bench(args: argparse.Namespace) -> int:
    """``orchestrator bench``: the benchmark harness; ``--run-id`` logs into the workspace's
    MLflow store unless ``--tracking-uri`` (or ``$MLFLOW_TRACKING_URI``) names another."""
    from benchmarks.harness.cli import cmd_bench as bench

    args.tracking_uri = workspace_of(args).tracking_uri(getattr(args, "tracking_uri", None))
    return bench(args)
