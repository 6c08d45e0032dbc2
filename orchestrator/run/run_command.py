"""``orchestrator run``: plan, queue and run a study (resumable, idempotent), then print what
ran, the orchestrator's overhead and the next commands."""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from ..faults import fault_point
from ..queue import JobState
from .commands import available_gpus, banner, hint, load_plan, say, search_command, workspace_of
from .launching import parent_meta_key, sigterm_as_interrupt
from .study_lock import hold_study_version


def _is_local_sqlite(uri: str) -> bool:
    return uri.startswith("sqlite:///")


def _target(args: argparse.Namespace, plan: Any) -> str:
    """What later commands name the study by: the file, or an ad-hoc study's name."""
    return plan.study.name if plan.study.origins else args.study


def cmd_run(args: argparse.Namespace) -> int:
    from ..queue import SqliteQueue
    from .launching import open_executor, serve_store
    from .scheduler import JobOptions, Scheduler, Settings, enqueue_plan
    from .tracking import Tracker

    if (search_run := search_command(args, "cmd_run")) is not None:
        return int(search_run(args))  # an Optuna study whose trials are jobs (docs/search.md)
    ws = workspace_of(args)
    t_start = time.perf_counter()
    plan = load_plan(args, ws)
    banner(plan)
    from ..executors import executor_class
    from .launching import probe_launch

    try:  # before anything is queued: a job this executor can never run
        executor_class(args.executor).check(probe_launch(plan.profile.resources))
    except ValueError as exc:
        say(f"{plan.study.path}: profile {plan.profile.name}: {exc}")
        return 2
    # Held until this function returns (or the process dies): no other version of the
    # study may enqueue, and so detach this version's jobs, meanwhile.
    lock = hold_study_version(ws.root / "locks", plan.study.name, plan.study.path,
                              plan.profile.name)
    uri = ws.tracking_uri(getattr(args, "tracking_uri", None))
    local_store = _is_local_sqlite(uri)
    queue = SqliteQueue(ws.queue_path)
    if plan.batch is not None:
        from ..study.plan import batch_meta_key

        # analysis finds this profile's jobs with the GPUs they were planned for.
        gpus = available_gpus(args)
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
    say(f"queue {ws.queue_path}: {len(new)} new, {done} already finished, "
        f"{len(failed)} failed earlier, {len(cancelled)} cancelled, {len(todo)} to run")
    meta_key = parent_meta_key(plan.study.name, plan.profile.name)
    if not todo:
        # A run killed after its last job left the parent run (and maybe job runs) open.
        _close_leftovers(queue, plan, meta_key, uri, ws.artifacts if local_store else None)
        lock.release()
        if failed or cancelled:
            again = hint(args, "retry", args.study, *(["--failed"] if failed else []),
                         *(["--cancelled"] if cancelled else []))
            say(f"nothing to run: {done}/{n_plan} finished, {len(failed)} failed earlier, "
                f"{len(cancelled)} cancelled; requeue them with:\n  {again}")
            return 1
        say(f"nothing to do: all {n_plan} job(s) already finished (cache hits); "
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
    say(f"{executor.describe()}; up to {slots} job(s) at once")
    # Detached jobs outlive this process, and a loopback server would die with it: they
    # write to the store directly (docs/cluster.md: an MLflow server for many writers).
    store = serve_store(uri, ws, 1 if executor.detached else min(slots, len(todo)))
    worker_uri, setup_s = store.worker_uri, store.setup_s
    if store.server is not None:
        tracker = Tracker(worker_uri, ws.artifacts)
        say(f"MLflow: {uri} served at {worker_uri} for this run ({setup_s:.1f} s to start)")
    else:
        say(f"MLflow: {uri}")
    settings = Settings(job=JobOptions(
        latency_images=args.latency_images,
        system_metrics=bool(getattr(args, "system_metrics", False))))

    from .progress import make_display

    display = make_display(getattr(args, "progress", "auto"), say, settings.progress_s)
    sched = Scheduler(plan, queue, executor, ws, tracker, worker_uri, exp_id, parent,
                      settings, out=display.event, display=display)
    summary = None
    try:
        with sigterm_as_interrupt():
            summary = sched.run()
            fault_point("run.all_done")
    finally:
        display.close()
        executor.shutdown()
        try:
            if summary is not None:  # interrupted: the study run stays open for the rerun
                tracker.finish_study(parent, summary.counts)
                queue.set_meta(meta_key + ":closed", "1")
        finally:
            store.stop()
    c = summary.counts
    say(f"{plan.study.name}: {c['succeeded']} succeeded, {c['failed']} failed, "
        f"{c['cancelled']} cancelled in {time.perf_counter() - t_start:.0f} s")
    prep = summary.overhead_s.get("prepare_s") or [0.0]
    say(f"orchestrator overhead: plan {plan.seconds['total']:.2f} s, MLflow server start "
        f"{setup_s:.1f} s, per job prepare (work dir, config, MLflow run) "
        f"{statistics.median(prep):.2f} s median")
    say(f"see: {hint(args, 'status', _target(args, plan))}\n"
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
    counts = dict.fromkeys(JobState.ALL, 0)
    for j in plan.jobs:
        counts[states.get(j.job_id, "queued")] += 1
    if tracker.close_study(parent, counts):
        say(f"closed the study's MLflow run {parent}, left open by a run that was killed")
    queue.set_meta(meta_key + ":closed", "1")

