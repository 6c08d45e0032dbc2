"""``orchestrator plan``: the dry run -- each job with its levels, cache state, time estimate
and config diff, and the study's total; nothing is queued or run."""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from ..study.configs import patch_key_path
from .commands import banner, load_plan, say, search_command, workspace_of


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


def cmd_plan(args: argparse.Namespace) -> int:
    from ..queue import SqliteQueue
    from .progress import fmt_s

    if (search_plan := search_command(args, "cmd_plan")) is not None:
        return int(search_plan(args))
    ws = workspace_of(args)
    t0 = time.perf_counter()
    plan = load_plan(args, ws)
    planned_s = time.perf_counter() - t0
    banner(plan)
    say(f"base: {plan.base_path}")
    if plan.profile.patch:
        say(f"profile {plan.profile.name} patches {len(plan.profile.patch)} key(s) of the base: "
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
            say(f"(MLflow store {uri} not readable: {exc}; cache column from the queue only)")
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
    say(f"{'#':>3}  {'job':16}  {'levels':32} {'seed':>4}  {'cache':14} {'est.':>8}  "
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
        say(f"{i:>3}  {job.job_id:16}  {levels:32} {job.seed:>4}  {cache:14} "
            f"{fmt_s(est):>8}  {bcell}{diff}")
    hits = sum(1 for j in plan.jobs if (known.get(j.job_id) is not None and known[
        j.job_id].state == "succeeded") or j.job_id in mlflow_hits)
    total = sum(todo_s)
    est_text = (f"about {fmt_s(total)} of job time" if todo_s else "no estimate") + (
        f" (+{unknown} job(s) never run before, no estimate)" if unknown and todo_s else "")
    say(f"{len(plan.jobs)} job(s): {hits} cached, {len(plan.jobs) - hits} to run; {est_text}")
    say(f"planned in {planned_s:.2f} s; nothing was run")
    return 0
