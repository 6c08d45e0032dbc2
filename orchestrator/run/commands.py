"""The actions of ``orchestrator run``, ``plan``, ``status``, ``cancel``, ``retry``, ``ui``,
``data`` and ``bench`` (the command table is :mod:`orchestrator.cli`).

Each ``cmd_*`` takes the parsed arguments and returns the exit status: 0 success, 1 some
job failed or was cancelled, 2 the study file was rejected (nothing was queued).
"""
from __future__ import annotations

import argparse
import os
import shlex
import signal
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

from ..faults import fault_point
from ..study.configs import patch_key_path
from ..study.errors import StudyError
from ..study.reader import study_header
from ..workspace import REPO_ROOT, Workspace, find_study
from .study_lock import StudyBusy, hold_study_version

# Heavy modules (plan -> mmengine, tracking -> mlflow, executors -> ray) are imported inside
# the commands so that `orchestrator --help` stays instant.


# MLflow prints a "View run ... at: URL" line for every run it ends; the orchestrator prints
# its own summary instead.
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")


def _say(text: str = "") -> None:
    print(text, flush=True)


def _workspace(args: argparse.Namespace) -> Workspace:
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


def _available_gpus(args: argparse.Namespace) -> int | None:
    """GPUs a job can use, for a profile's declared batch: ``--gpus``, else the visible ones
    for the local executor, else ``None`` (Slurm and Ray allocate what a job asks)."""
    if getattr(args, "gpus", None) is not None:
        return int(args.gpus)
    if getattr(args, "executor", "local") != "local":
        return None
    from ..executors.local import detect_gpus

    return len(detect_gpus())


def _load_plan(args: argparse.Namespace, ws: Workspace) -> Any:
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
                      available_gpus=_available_gpus(args))


def with_overrides(args: argparse.Namespace, study: Any) -> Any:
    """The study, or the ad-hoc study its ``--set``/``--sweep`` options make of it.

    Raises:
        StudyError: A malformed option (the planner reports keys and values).
    """
    from ..study.overrides import apply_overrides, parse_overrides

    overrides = parse_overrides(getattr(args, "set", None) or (),
                                getattr(args, "sweep", None) or ())
    return apply_overrides(study, args.profile, overrides)


def _target(args: argparse.Namespace, plan: Any) -> str:
    """What later commands name the study by: the file, or an ad-hoc study's name."""
    return plan.study.name if plan.study.origins else args.study


def _banner(plan: Any) -> None:
    _say(f"study {plan.study.name} ({plan.study.path}), profile {plan.profile.name}: "
         f"{len(plan.jobs)} job(s)")
    _say(plan.dataset.banner())
    for note in plan.notes:  # e.g. rows an evaluation profile leaves out
        _say(f"note: {note}")
    res = plan.profile.resources
    if res.gpus_per_job > 1 or res.procs_per_job > 1 or res.nodes_per_job > 1:
        ranks = int(res.gpus_per_job) if res.gpus_per_job > 1 else res.procs_per_job
        what = "GPU" if res.gpus_per_job > 1 else "CPU"
        _say(f"each job: {ranks} data-parallel {what} process(es)"
             + (f" on {res.nodes_per_job} nodes" if res.nodes_per_job > 1 else "")
             + f", {res.cpus_per_job} thread(s) each")
    if plan.batch is not None:
        _say(plan.batch.describe())
        warning = plan.batch.warning()
        if warning:
            _say(warning)


# --------------------------------------------------------------------------- plan

def _estimates(queue: Any) -> tuple[dict[str, float], dict[str, float]]:
    """Seconds per finished job id, and median seconds per config family."""
    by_job: dict[str, float] = {}
    by_family: dict[str, list[float]] = {}
    for job in queue.jobs(states=["succeeded"]):
        if job.duration is not None:
            by_job[job.job_id] = job.duration
            by_family.setdefault(job.family, []).append(job.duration)
    return by_job, {f: statistics.median(v) for f, v in by_family.items()}


def _short(value: Any, n: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= n else text[: n - 3] + "..."


def _search_command(args: argparse.Namespace, name: str) -> Any:
    """:mod:`orchestrator.search.commands`' version of a command when the study is
    ``kind: search`` (the study reader's header says)."""
    header = study_header(find_study(args.study))
    if header is None or header.kind != "search":
        return None
    from ..search import commands

    return getattr(commands, name)


def cmd_plan(args: argparse.Namespace) -> int:
    from ..queue import SqliteQueue
    from .scheduler import _fmt_s

    if (search_plan := _search_command(args, "cmd_plan")) is not None:
        return int(search_plan(args))
    ws = _workspace(args)
    t0 = time.perf_counter()
    try:
        plan = _load_plan(args, ws)
    except StudyError as exc:
        _say(str(exc))
        return 2
    planned_s = time.perf_counter() - t0
    _banner(plan)
    _say(f"base: {plan.base_path}")
    if plan.profile.patch:
        _say(f"profile {plan.profile.name} patches {len(plan.profile.patch)} key(s) of the base: "
             + ", ".join(patch_key_path(k) for k in plan.profile.patch))
    queue = SqliteQueue(ws.queue_path)
    known = {j.job_id: j for j in queue.jobs()}
    by_job, by_family = _estimates(queue)
    mlflow_hits: dict[str, str] = {}
    uri = ws.tracking_uri(getattr(args, "tracking_uri", None))
    if not uri.startswith("sqlite:///") or ws.mlflow_db.exists() and uri == \
            ws.default_tracking_uri:
        try:
            from .tracking import Tracker

            mlflow_hits = Tracker(uri).finished_jobs(j.job_id for j in plan.jobs)
        except Exception as exc:  # noqa: BLE001 - the plan is still useful without it
            _say(f"(MLflow store {uri} not readable: {exc}; cache column from the queue only)")
    # Evaluation profiles test published checkpoints: a mode column, and what they load.
    show_mode = any(j.mode != "train" for j in plan.jobs)
    b = plan.batch
    # World size x images per GPU (x accumulation) = effective batch, per job.
    bcol = "" if b is None else (
        f"{b.world_size}x{b.images_per_gpu}"
        + (f"x{b.accumulative_counts}" if b.accumulative_counts > 1 else "")
        + f"={b.effective_batch}")
    bhead = "" if b is None else f"{'batch':>{max(5, len(bcol))}}  "
    bcell = "" if b is None else f"{bcol:>{max(5, len(bcol))}}  "
    _say(f"{'#':>3}  {'job':16}  {'levels':32} {'seed':>4}  {'cache':14} {'est.':>8}  "
         + bhead + (f"{'mode':9} weights (model)" if show_mode else "diff vs base"))
    todo_s: list[float] = []
    unknown = 0
    for i, job in enumerate(plan.jobs, 1):
        rec = known.get(job.job_id)
        if rec is not None and rec.state == "succeeded":
            cache = "hit (done)"
        elif job.job_id in mlflow_hits:
            cache = "hit (mlflow)"
        elif rec is not None:
            cache = rec.state
        else:
            cache = "-"
        est = by_job.get(job.job_id, by_family.get(job.family))
        if not cache.startswith("hit"):
            if est is None:
                unknown += 1
            else:
                todo_s.append(est)
        levels = ",".join(f"{a}={lv}" for a, lv in job.levels.items()) or "(base)"
        diff = "; ".join(f"{k}: {_short(a)} -> {_short(b)}" for k, a, b in job.diff) or "(base)"
        if show_mode:
            diff = f"{job.mode:9} " + ("; ".join(f"{a} ({b})" for _, a, b in job.diff)
                                        if job.mode == "evaluate" else diff)
        _say(f"{i:>3}  {job.job_id:16}  {levels:32} {job.seed:>4}  {cache:14} "
             f"{_fmt_s(est):>8}  {bcell}{diff}")
    hits = sum(1 for j in plan.jobs if (known.get(j.job_id) is not None and known[
        j.job_id].state == "succeeded") or j.job_id in mlflow_hits)
    total = sum(todo_s)
    est_text = (f"about {_fmt_s(total)} of job time" if todo_s else "no estimate") + (
        f" (+{unknown} job(s) never run before, no estimate)" if unknown and todo_s else "")
    _say(f"{len(plan.jobs)} job(s): {hits} cached, {len(plan.jobs) - hits} to run; {est_text}")
    _say(f"planned in {planned_s:.2f} s; nothing was run")
    return 0


# --------------------------------------------------------------------------- run

def _is_local_sqlite(uri: str) -> bool:
    return uri.startswith("sqlite:///")


def cmd_run(args: argparse.Namespace) -> int:
    from ..queue import SqliteQueue
    from .launching import open_executor, serve_store
    from .scheduler import Scheduler, Settings, enqueue_plan
    from .tracking import Tracker

    if (search_run := _search_command(args, "cmd_run")) is not None:
        return int(search_run(args))  # an Optuna study whose trials are jobs (docs/search.md)
    ws = _workspace(args)
    t_start = time.perf_counter()
    try:
        plan = _load_plan(args, ws)
    except StudyError as exc:
        _say(str(exc))
        return 2
    _banner(plan)
    from ..executors import executor_class
    from .launching import probe_launch

    try:  # before anything is queued: a job this executor can never run
        executor_class(args.executor).check(probe_launch(plan.profile.resources))
    except ValueError as exc:
        _say(f"{plan.study.path}: profile {plan.profile.name}: {exc}")
        return 2
    try:
        # Held until this function returns (or the process dies): no other version of the
        # study may enqueue, and so detach this version's jobs, meanwhile.
        lock = hold_study_version(ws.root / "locks", plan.study.name, plan.study.path,
                                  plan.profile.name)
    except StudyBusy as exc:
        _say(str(exc))
        return 2
    uri = ws.tracking_uri(getattr(args, "tracking_uri", None))
    local_store = _is_local_sqlite(uri)
    queue = SqliteQueue(ws.queue_path)
    if plan.batch is not None:
        from ..study.plan import batch_meta_key

        # analysis finds this profile's jobs with the GPUs they were planned for.
        gpus = _available_gpus(args)
        queue.set_meta(batch_meta_key(plan.study.name, plan.profile.name),
                       "none" if gpus is None else str(gpus))
    # Only jobs this queue has never seen can be cache hits (a known job keeps its state in
    # the queue), so a rerun with nothing new to do never imports MLflow (seconds on a busy
    # machine).
    unknown = [j.job_id for j in plan.jobs if queue.get(j.job_id) is None]
    tracker = Tracker(uri, ws.artifacts if local_store else None) if unknown else None
    hits = tracker.finished_jobs(unknown) if tracker is not None else {}
    new = enqueue_plan(plan, queue, hits)
    fault_point("run.enqueued")
    n_plan = len(plan.jobs)
    state = {j.job_id: j.state for j in queue.jobs(plan.study.name)}
    done = sum(1 for j in plan.jobs if state.get(j.job_id) == "succeeded")
    failed = [j for j in plan.jobs if state.get(j.job_id) == "failed"]
    cancelled = [j for j in plan.jobs if state.get(j.job_id) == "cancelled"]
    todo = [j for j in plan.jobs if state.get(j.job_id) in ("queued", "running")]
    _say(f"queue {ws.queue_path}: {len(new)} new, {done} already finished, "
         f"{len(failed)} failed earlier, {len(cancelled)} cancelled, {len(todo)} to run")
    meta_key = f"parent:{plan.study.name}:{plan.profile.name}"
    if not todo:
        # A run killed after its last job left the parent run (and maybe job runs) open.
        _close_leftovers(queue, plan, meta_key, uri, ws.artifacts if local_store else None)
        lock.release()
        if failed or cancelled:
            again = hint(args, "retry", args.study, *(["--failed"] if failed else []),
                         *(["--cancelled"] if cancelled else []))
            _say(f"nothing to run: {done}/{n_plan} finished, {len(failed)} failed earlier, "
                 f"{len(cancelled)} cancelled; requeue them with:\n  {again}")
            return 1
        _say(f"nothing to do: all {n_plan} job(s) already finished (cache hits); "
             f"results in MLflow at {uri}")
        return 0
    if tracker is None:
        tracker = Tracker(uri, ws.artifacts if local_store else None)
    exp_id = tracker.experiment_id(plan.study.name)
    tracker.describe_experiment(plan, exp_id)
    parent = tracker.study_run(plan, exp_id, queue.get_meta(meta_key))
    queue.set_meta(meta_key, parent)
    queue.set_meta(meta_key + ":closed", "")
    # Job runs a killed orchestrator left RUNNING although the queue finished them.
    tracker.reconcile(exp_id, {j.job_id: state.get(j.job_id, "") for j in plan.jobs})

    executor, slots = open_executor(args, plan.profile.resources, plan.study.executor)
    _say(f"{executor.describe()}; up to {slots} job(s) at once")
    # Detached jobs outlive this process, and a loopback server would die with it: they
    # write to the store directly (docs/cluster.md: an MLflow server for many writers).
    store = serve_store(uri, ws, 1 if executor.detached else min(slots, len(todo)))
    worker_uri, setup_s = store.worker_uri, store.setup_s
    if store.server is not None:
        tracker = Tracker(worker_uri, ws.artifacts)
        _say(f"MLflow: {uri} served at {worker_uri} for this run ({setup_s:.1f} s to start)")
    else:
        _say(f"MLflow: {uri}")
    settings = Settings(latency_images=args.latency_images,
                        system_metrics=bool(getattr(args, "system_metrics", False)))

    def _term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _term)
    from .progress import make_display

    display = make_display(getattr(args, "progress", "auto"), _say, settings.progress_s)
    sched = Scheduler(plan, queue, executor, ws, tracker, worker_uri, exp_id, parent,
                      settings, out=display.event, display=display)
    summary = None
    try:
        summary = sched.run()
        fault_point("run.all_done")
    finally:
        display.close()
        signal.signal(signal.SIGTERM, previous)
        executor.shutdown()
        try:
            if summary is not None:  # interrupted: the study run stays open for the rerun
                tracker.finish_study(parent, summary.counts)
                queue.set_meta(meta_key + ":closed", "1")
        finally:
            store.stop()
    c = summary.counts
    _say(f"{plan.study.name}: {c['succeeded']} succeeded, {c['failed']} failed, "
         f"{c['cancelled']} cancelled in {time.perf_counter() - t_start:.0f} s")
    prep = summary.overhead_s.get("prepare_s") or [0.0]
    _say(f"orchestrator overhead: plan {plan.seconds['total']:.2f} s, MLflow server start "
         f"{setup_s:.1f} s, per job prepare (work dir, config, MLflow run) "
         f"{statistics.median(prep):.2f} s median")
    _say(f"see: {hint(args, 'status', _target(args, plan))}\n"
         f"     {hint(args, 'ui')}"
         + ("" if plan.study.origins else  # an ad-hoc study has no table section
            f"\n     {hint(args, 'table', args.study, profile=args.profile)}"))
    return 0 if summary.ok else 1


def _close_leftovers(queue: Any, plan: Any, meta_key: str, uri: str,
                     artifacts: Any) -> None:
    """Close the parent run (and finished jobs' runs) a killed run left open.

    Only when the queue says the parent was opened and not closed: a clean rerun with
    nothing to do still never imports MLflow.
    """
    parent = queue.get_meta(meta_key)
    if not parent or queue.get_meta(meta_key + ":closed") == "1":
        return
    from .tracking import Tracker

    tracker = Tracker(uri, artifacts)
    states = {j.job_id: j.state for j in queue.jobs(plan.study.name)}
    exp = tracker.client.get_experiment_by_name(plan.study.name)
    if exp is not None:
        tracker.reconcile(exp.experiment_id, {j.job_id: states.get(j.job_id, "")
                                              for j in plan.jobs})
    counts = dict.fromkeys(("queued", "running", "succeeded", "failed", "cancelled"), 0)
    for j in plan.jobs:
        counts[states.get(j.job_id, "queued")] += 1
    if tracker.close_study(parent, counts):
        _say(f"closed the study's MLflow run {parent}, left open by a run that was killed")
    queue.set_meta(meta_key + ":closed", "1")


# --------------------------------------------------------------------------- status etc.

def cmd_status(args: argparse.Namespace) -> int:
    from ..queue import SqliteQueue
    from .scheduler import _fmt_s

    if args.study is not None and (search_status := _search_command(
            args, "cmd_status")) is not None:
        return int(search_status(args))  # the jobs with their trials' Optuna states
    ws = _workspace(args)
    queue = SqliteQueue(ws.queue_path)
    if args.study is None:
        studies = queue.studies()
        if not studies:
            _say(f"no studies in {ws.queue_path}")
        member: set[str] = set()
        for name in studies:
            c = queue.counts(name)
            member |= {j.job_id for j in queue.jobs(name)}
            _say(f"{name:30} " + ", ".join(f"{v} {k}" for k, v in c.items() if v))
        # Jobs an edited study file dropped stay (finished ones are cache); say they exist.
        loose = [j for j in queue.jobs() if j.job_id not in member]
        if loose:
            states = Counter(j.state for j in loose)
            _say(f"{'(in no study)':30} " + ", ".join(f"{v} {k}" for k, v in states.items())
                 + " -- dropped by an edited study file; they run only if a study names "
                 "them again")
        return 0
    name = _study_name(args.study)
    jobs = queue.jobs(name)
    if not jobs:
        _say(f"no jobs of study {name!r} in {ws.queue_path}")
        return 1
    from ..executors import describe_handles, handle_key

    handles = {j.job_id: h for j in jobs if j.state == "running"
               and (h := queue.get_meta(handle_key(j.job_id)))}
    where = describe_handles(handles)  # detached jobs: e.g. "slurm 1234 RUNNING on node7"
    _say(f"{'job':16}  {'state':9} {'try':>5}  {'time':>8}  {'name':36} run / error")
    for j in jobs:
        _say(f"{j.job_id:16}  {j.state:9} {j.attempts:>2}/{j.max_attempts:<2}  "
             f"{_fmt_s(j.duration) if j.duration else '':>8}  {j.spec.get('name', ''):36} "
             + (f"[{where[j.job_id]}] " if j.job_id in where else "")
             + f"{j.run_id or ''}")
        if j.error and j.state != "succeeded":
            # The whole message, on lines of its own: the end of an error is often the point.
            for line in j.error.splitlines():
                _say(f"{'':18}{line}")
    c = queue.counts(name)
    _say(", ".join(f"{v} {k}" for k, v in c.items() if v))
    return 0


def _study_name(study: str) -> str:
    """A study's name from its file (or the argument itself when it is a name)."""
    path = find_study(study)
    header = study_header(path) if path.is_file() else None
    return header.name if header is not None and header.name else study


def cmd_cancel(args: argparse.Namespace) -> int:
    from ..queue import SqliteQueue

    ws = _workspace(args)
    queue = SqliteQueue(ws.queue_path)
    name = _study_name(args.study)
    from ..executors import cancel_handle, handle_key

    running = {j.job_id for j in (queue.jobs(name, ["running"]) if not args.job else
                                  [r for r in map(queue.get, args.job) if r is not None])
               if j.state == "running"}
    ids = queue.cancel(job_ids=args.job) if args.job else queue.cancel(name)
    _say(f"cancelled {len(ids)} job(s) of {name}" + (": " + ", ".join(ids) if ids else ""))
    if ids:
        _say("a running orchestrator stops them within its heartbeat period (5 s)")
    for job_id in sorted(running & set(ids)):
        handle = queue.get_meta(handle_key(job_id))
        if handle:  # detached (Slurm): stop it now, whether or not an orchestrator runs
            try:
                cancel_handle(handle)
                _say(f"scancel {handle} ({job_id[:8]})" if handle.startswith("slurm:")
                     else f"stopped {handle} ({job_id[:8]})")
            except Exception as exc:  # noqa: BLE001 - the queue state is what matters
                _say(f"(could not stop {handle}: {exc})")
    runs = [r for r in (queue.get(i) for i in ids) if r is not None and r.run_id]
    if runs:
        # Close their MLflow runs now, in case no orchestrator is alive to do it.
        from .tracking import Tracker

        uri = ws.tracking_uri(getattr(args, "tracking_uri", None))
        try:
            tracker = Tracker(uri)
            for rec in runs:
                tracker.job_failed(rec.run_id, "cancelled", None, final=True,  # type: ignore[arg-type]
                                   attempts=rec.attempts, cancelled=True)
        except Exception as exc:  # noqa: BLE001 - the queue is what matters
            _say(f"(could not mark their MLflow runs cancelled in {uri}: {exc})")
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    from ..queue import SqliteQueue

    ws = _workspace(args)
    queue = SqliteQueue(ws.queue_path)
    states = (["failed"] if args.failed or not args.cancelled else []) + (
        ["cancelled"] if args.cancelled else [])
    name = _study_name(args.study)
    ids = queue.retry(name, states)
    # The profile they were planned under, so the hint runs these very jobs.
    profiles = {str(r.spec.get("profile")) for r in (queue.get(i) for i in ids)
                if r is not None and r.spec.get("profile")}
    profile = profiles.pop() if len(profiles) == 1 else None
    _say(f"requeued {len(ids)} {'/'.join(states)} job(s) of {name} with a fresh attempt "
         "budget" + (f"; run them with:\n  {hint(args, 'run', args.study, profile=profile)}"
                     if ids else ""))
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    """MLflow's UI over the workspace's store; its address is printed once it answers."""
    from .ui import mlflow_page, serve_web_ui, ui_command

    ws = _workspace(args)
    uri = ws.tracking_uri(getattr(args, "tracking_uri", None))
    _say(f"MLflow store: {uri}")
    return serve_web_ui("MLflow UI", ui_command(uri, args.port), args.port, "/health",
                        mlflow_page(), args.wait, _say)


def cmd_data(args: argparse.Namespace) -> int:
    from centermask_mm.datasets import toy

    return toy.main(args.toy_args)


def cmd_bench(args: argparse.Namespace) -> int:
    """``orchestrator bench``: the benchmark harness; ``--run-id`` logs into the workspace's
    MLflow store unless ``--tracking-uri`` (or ``$MLFLOW_TRACKING_URI``) names another."""
    from benchmarks.harness.cli import cmd_bench as bench

    args.tracking_uri = _workspace(args).tracking_uri(getattr(args, "tracking_uri", None))
    return bench(args)
