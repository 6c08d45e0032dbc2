"""``orchestrator status``, ``cancel`` and ``retry``: a study's jobs in the workspace's queue
(quick: they read the study file's header and the queue, and plan nothing)."""
from __future__ import annotations

import argparse
from collections import Counter

from ..queue import SqliteQueue
from ..study.reader import study_header
from ..workspace import find_study
from .commands import hint, say, search_command, workspace_of


def study_name(study: str) -> str:
    """A study's name from its file (or the argument itself when it is a name)."""
    path = find_study(study)
    header = study_header(path) if path.is_file() else None
    return header.name if header is not None and header.name else study


def cmd_status(args: argparse.Namespace) -> int:
    from .progress import fmt_s

    if args.study is not None and (search_status := search_command(
            args, "cmd_status")) is not None:
        return int(search_status(args))  # the jobs with their trials' Optuna states
    ws = workspace_of(args)
    queue = SqliteQueue(ws.queue_path)
    if args.study is None:
        studies = queue.studies()
        if not studies:
            say(f"no studies in {ws.queue_path}")
        member: set[str] = set()
        for name in studies:
            c = queue.counts(name)
            member |= {j.job_id for j in queue.jobs(name)}
            say(f"{name:30} " + ", ".join(f"{v} {k}" for k, v in c.items() if v))
        # Jobs an edited study file dropped stay (finished ones are cache); say they exist.
        loose = [j for j in queue.jobs() if j.job_id not in member]
        if loose:
            states = Counter(j.state for j in loose)
            say(f"{'(in no study)':30} " + ", ".join(f"{v} {k}" for k, v in states.items())
                + " -- dropped by an edited study file; they run only if a study names "
                "them again")
        return 0
    name = study_name(args.study)
    jobs = queue.jobs(name)
    if not jobs:
        say(f"no jobs of study {name!r} in {ws.queue_path}")
        return 1
    from ..executors import describe_handles, handle_key

    handles = {j.job_id: h for j in jobs if j.state == "running"
               and (h := queue.get_meta(handle_key(j.job_id)))}
    where = describe_handles(handles)  # detached jobs: e.g. "slurm 1234 RUNNING on node7"
    say(f"{'job':16}  {'state':9} {'try':>5}  {'time':>8}  {'name':36} run / error")
    for j in jobs:
        say(f"{j.job_id:16}  {j.state:9} {j.attempts:>2}/{j.max_attempts:<2}  "
            f"{fmt_s(j.duration) if j.duration else '':>8}  {j.spec.get('name', ''):36} "
            + (f"[{where[j.job_id]}] " if j.job_id in where else "")
            + f"{j.run_id or ''}")
        if j.error and j.state != "succeeded":
            # The whole message, on lines of its own: the end of an error is often the point.
            for line in j.error.splitlines():
                say(f"{'':18}{line}")
    c = queue.counts(name)
    say(", ".join(f"{v} {k}" for k, v in c.items() if v))
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    ws = workspace_of(args)
    queue = SqliteQueue(ws.queue_path)
    name = study_name(args.study)
    from ..executors import cancel_handle, handle_key

    running = {j.job_id for j in (queue.jobs(name, ["running"]) if not args.job else
                                  [r for r in map(queue.get, args.job) if r is not None])
               if j.state == "running"}
    ids = queue.cancel(job_ids=args.job) if args.job else queue.cancel(name)
    say(f"cancelled {len(ids)} job(s) of {name}" + (": " + ", ".join(ids) if ids else ""))
    if ids:
        say("a running orchestrator stops them within its heartbeat period (5 s)")
    for job_id in sorted(running & set(ids)):
        handle = queue.get_meta(handle_key(job_id))
        if handle:  # detached (Slurm): stop it now, whether or not an orchestrator runs
            try:
                cancel_handle(handle)
                say(f"scancel {handle} ({job_id[:8]})" if handle.startswith("slurm:")
                    else f"stopped {handle} ({job_id[:8]})")
            except Exception as exc:  # noqa: BLE001 - the queue state is what matters
                say(f"(could not stop {handle}: {exc})")
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
            say(f"(could not mark their MLflow runs cancelled in {uri}: {exc})")
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    ws = workspace_of(args)
    queue = SqliteQueue(ws.queue_path)
    states = (["failed"] if args.failed or not args.cancelled else []) + (
        ["cancelled"] if args.cancelled else [])
    name = study_name(args.study)
    ids = queue.retry(name, states)
    # The profile they were planned under, so the hint runs these very jobs.
    profiles = {str(r.spec.get("profile")) for r in (queue.get(i) for i in ids)
                if r is not None and r.spec.get("profile")}
    profile = profiles.pop() if len(profiles) == 1 else None
    say(f"requeued {len(ids)} {'/'.join(states)} job(s) of {name} with a fresh attempt "
        "budget" + (f"; run them with:\n  {hint(args, 'run', args.study, profile=profile)}"
                    if ids else ""))
    return 0

