"""The search's commands (``run``, ``plan``, ``status`` on a ``kind: search`` study, and
``trials``)."""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

from ..run.commands import hint, say, with_overrides, workspace_of
from ..run.launching import parent_meta_key, sigterm_as_interrupt
from ..run.study_lock import hold_study_version
from ..study.configs import patch_key_path
from ..study.reader import load_study
from ..workspace import REPO_ROOT, Workspace, find_study
from .planner import JOB_ATTR, SearchPlan, _fmt, _storage_url, open_study, plan_search
from .report import _log_report, report
from .scheduler import SearchScheduler
from .space import make_storage, parse_search, redact
from .tracking import SearchTracker


def _load(args: argparse.Namespace, ws: Workspace) -> SearchPlan:
    """The search plan of ``args.study`` (raises ``StudyError``: the CLI prints it, exits 2)."""
    study = with_overrides(args, load_study(find_study(args.study)))  # --set (no --sweep)
    return plan_search(study, args.profile, workspace=ws.root, repo_root=REPO_ROOT)


def _banner(sp: SearchPlan) -> None:
    say(f"search {sp.study.name} ({sp.study.path}), profile {sp.profile.name}: Optuna study "
        f"{sp.optuna_name!r} in {redact(sp.storage_url)}")
    say(sp.base.dataset.banner())
    for line in sp.spec.describe():
        say(line)


def cmd_plan(args: argparse.Namespace) -> int:
    """``orchestrator plan`` on a search study: the validated space, budget, past trials."""
    ws = workspace_of(args)
    t0 = time.perf_counter()
    sp = _load(args, ws)
    _banner(sp)
    if sp.profile.patch:
        say(f"profile {sp.profile.name} patches {len(sp.profile.patch)} key(s) of the base: "
            + ", ".join(patch_key_path(k) for k in sp.profile.patch))
    known = 0
    try:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        if sp.storage_url.startswith("sqlite:///") and not Path(
                sp.storage_url[len("sqlite:///"):]).exists():
            raise KeyError(sp.optuna_name)  # plan creates nothing
        study = optuna.load_study(study_name=sp.optuna_name, storage=make_storage(
            sp.storage_url))
        known = len(study.trials)
        states = [t.state.name for t in study.trials]
        say(f"stored trials: {known} (" + ", ".join(
            f"{states.count(s)} {s.lower()}" for s in sorted(set(states))) + ")")
    except Exception:  # noqa: BLE001 - no study yet
        say("stored trials: none yet")
    budget = sp.spec.budget()
    say(f"to run: {max(0, budget - known) if budget else 'until the timeout'} trial(s); "
        f"planned in {time.perf_counter() - t0:.2f} s; nothing was run")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """``orchestrator run`` on a search study."""
    from ..queue import SqliteQueue
    from ..run.launching import open_executor, serve_store
    from ..run.scheduler import JobOptions, Settings

    ws = workspace_of(args)
    t_start = time.perf_counter()
    sp = _load(args, ws)
    study, storage = open_study(sp)
    # As for an ablation run: no other version of the study runs meanwhile (the lock is
    # dropped when this process ends, even on SIGKILL).
    lock = hold_study_version(ws.root / "locks", sp.study.name, sp.study.path,
                              sp.profile.name)
    _banner(sp)
    uri = ws.tracking_uri(getattr(args, "tracking_uri", None))
    local_store = uri.startswith("sqlite:///")
    tracker_cls = SearchTracker
    tracker = tracker_cls(uri, ws.artifacts if local_store else None)
    queue = SqliteQueue(ws.queue_path)
    exp_id = tracker.experiment_id(sp.study.name)
    meta_key = parent_meta_key(sp.study.name, sp.profile.name)
    parent = tracker.search_run(sp, exp_id, queue.get_meta(meta_key))
    queue.set_meta(meta_key, parent)

    executor, slots = open_executor(args, sp.profile.resources)
    say(f"{executor.describe()}; up to {slots} trial(s) at once")
    store = serve_store(uri, ws, slots)
    worker_uri = store.worker_uri
    if store.server is not None:
        tracker = tracker_cls(worker_uri, ws.artifacts)
        say(f"MLflow: {uri} served at {worker_uri} for this run")
    else:
        say(f"MLflow: {uri}")
    settings = Settings(job=JobOptions(latency_images=args.latency_images))
    sched = SearchScheduler(sp, study, storage, queue, executor, ws, tracker, worker_uri,
                            exp_id, parent, settings, out=say)
    summary = None
    rep: dict[str, Any] = {}
    try:
        with sigterm_as_interrupt():
            rec = sched.reconcile()
            if any(rec.values()):
                say("taken over from an earlier run: " + ", ".join(
                    f"{v} {k}" for k, v in rec.items() if v)
                    + (" (trials running on other machines are left to them)"
                       if rec["elsewhere"] else ""))
            summary = sched.run()
    finally:
        executor.shutdown()
        try:
            if summary is not None:
                rep = report(sp, study)
                _log_report(tracker, parent, sp, rep, summary.counts)
        finally:
            store.stop()
            lock.release()
    counts = rep.get("counts", {})
    say(f"{sp.study.name}: {len(sched.asked)} trial(s) asked in this run; "
        f"{counts.get('complete', 0)} complete, {counts.get('pruned', 0)} pruned, "
        f"{counts.get('fail', 0)} failed in all; {time.perf_counter() - t_start:.0f} s")
    prep = summary.overhead_s.get("prepare_s") or [0.0] if summary else [0.0]
    say(f"orchestrator overhead: plan {sp.base.seconds['total']:.2f} s, per trial prepare "
        f"{statistics.median(prep):.2f} s median")
    if rep.get("best_config"):
        say(f"best config: {rep['best_config']}")
    say(f"see: {hint(args, 'trials', args.study, profile=args.profile)}\n"
        f"     {hint(args, 'dashboard', args.study, profile=args.profile)}\n"
        f"     {hint(args, 'ui')}")
    return 0 if rep.get("best") is not None else 1



def cmd_status(args: argparse.Namespace) -> int:
    """``orchestrator status`` on a search study: each job with its trial's Optuna state.

    Quick: reads the study file, the queue and the Optuna storage; plans nothing. A pruned
    trial's job is ``succeeded`` in the queue (it ended as designed) and ``PRUNED`` here.
    """
    import optuna

    from ..queue import SqliteQueue
    from ..run.progress import fmt_s

    ws = workspace_of(args)
    study = load_study(find_study(args.study))
    queue = SqliteQueue(ws.queue_path)
    jobs = queue.jobs(study.name)
    if not jobs:
        say(f"no trials of search {study.name!r} in {ws.queue_path}")
        return 1
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials: dict[str, Any] = {}
    for profile in sorted({str(j.spec.get("profile")) for j in jobs}):
        try:
            url = _storage_url(parse_search(study, study.profile(profile)), ws)
            stored = optuna.load_study(study_name=f"{study.name}:{profile}",
                                       storage=make_storage(url))
        except Exception:  # noqa: BLE001 - a profile without a study yet
            continue
        trials.update({str(t.user_attrs.get(JOB_ATTR)): t for t in stored.trials})
    say(f"{'job':16}  {'state':9} {'trial':>5} {'optuna':8} {'value':>8} {'try':>5}  "
        f"{'time':>8}  {'name':44} run / error")
    for j in jobs:
        t = trials.get(j.job_id)
        value = "" if t is None or t.value is None else _fmt(t.value)
        tail = j.run_id or ""
        if j.error and j.state != "succeeded":
            tail += f"  {j.error[:120]}"
        say(f"{j.job_id:16}  {j.state:9} {'' if t is None else t.number:>5} "
            f"{'' if t is None else t.state.name:8} {value:>8} "
            f"{j.attempts:>2}/{j.max_attempts:<2}  "
            f"{fmt_s(j.duration) if j.duration else '':>8}  {j.spec.get('name', ''):44} "
            f"{tail}")
    states = [t.state.name for t in trials.values()]
    say(", ".join(f"{states.count(s)} {s.lower()}" for s in
                  ("COMPLETE", "PRUNED", "FAIL", "RUNNING") if states.count(s)))
    return 0


def _not_run(sp: SearchPlan, args: argparse.Namespace) -> str:
    """Why there are no trials to show: never run here, or run under other profiles."""
    others: list[str] = []
    try:
        import optuna

        prefix = f"{sp.study.name}:"
        others = sorted(n[len(prefix):] for n in optuna.study.get_all_study_names(
            make_storage(sp.storage_url)) if n.startswith(prefix))
    except Exception:  # noqa: BLE001 - an unreadable storage says the same as an empty one
        pass
    where = f"in {redact(sp.storage_url)}"
    if not others:
        return (f"search {sp.study.name!r} has not run {where} (profile {sp.profile.name}): "
                f"start it with {hint(args, 'run', args.study, profile=args.profile)}")
    runs = "; ".join(hint(args, "trials", args.study, profile=p) for p in others)
    return (f"search {sp.study.name!r} has no trials under profile {sp.profile.name!r} "
            f"{where}; it ran under profile{'s' * (len(others) > 1)} "
            f"{', '.join(others)}: {runs}")


def dashboard_command(storage_url: str, port: int) -> list[str]:
    """optuna-dashboard over ``storage_url`` on 127.0.0.1 (its own CLI, this interpreter)."""
    import sys

    return [sys.executable, "-c", "import sys; from optuna_dashboard._cli import main; "
            "sys.exit(main())", storage_url, "--host", "127.0.0.1", "--port", str(port)]


def cmd_dashboard(args: argparse.Namespace) -> int:
    """``orchestrator dashboard STUDY``: optuna-dashboard over the search's Optuna storage.

    Each trial carries its MLflow run: user attributes ``cm.run_id`` and ``cm.mlflow_run``
    (the run's page under ``orchestrator ui``'s address); the run carries ``cm.trial``.
    """
    import importlib.util

    from ..run.ui import serve_web_ui

    sp = _load(args, workspace_of(args))
    if importlib.util.find_spec("optuna_dashboard") is None:
        say("optuna-dashboard is not installed: pip install optuna-dashboard (or "
            "pip install -e '.[dashboard]'); or point it at the storage yourself: "
            f"optuna-dashboard {redact(sp.storage_url)}")
        return 1
    say(f"Optuna study {sp.optuna_name!r} in {redact(sp.storage_url)}; a trial's user "
        "attribute cm.mlflow_run is its MLflow run's page under the MLflow UI's address "
        f"({hint(args, 'ui')})")
    return serve_web_ui("optuna-dashboard", dashboard_command(sp.storage_url, args.port),
                        args.port, "/api/meta", "dashboard/", args.wait, say)


def cmd_trials(args: argparse.Namespace) -> int:
    """``orchestrator trials STUDY``: the search's trials, best config and importances."""
    sp = _load(args, workspace_of(args))
    try:
        study, _ = open_study(sp, create=False)
    except KeyError:
        say(_not_run(sp, args))
        return 1
    rep = report(sp, study)
    return 0 if rep.get("best") is not None else 1
