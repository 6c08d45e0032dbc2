"""The run loop: plan -> queue -> executor -> MLflow, resumable at any point.

:func:`run_plan` enqueues a plan's jobs (idempotently; MLflow cache hits go in as
succeeded), then :class:`Scheduler` claims queued jobs while the executor has room,
prepares each (work dir, resolved ``config.py``, MLflow run, ``job.json``), launches the job
process, heartbeats the leases of its running jobs, records outcomes (bounded retries,
failures with their log), and prints live progress until every job of the study is
finished.

Why it is safe to kill: the queue holds the truth. A job is ``running`` only while its
owner (this process) heartbeats; job processes die with their orchestrator; a rerun
requeues jobs of a dead owner at once (same host) or after the heartbeat timeout (other
hosts), and the retried job resumes from its last checkpoint into the same MLflow run.
Finished jobs are never started again.

Detached executors (Slurm): jobs outlive the orchestrator. The job's external handle
(``slurm:<id>``) is stored in the queue at submission; a rerun *adopts* a running job of a
gone owner by that handle (the job keeps its attempt, its MLflow run and its Slurm job)
instead of requeueing it, and Ctrl-C leaves such jobs running.
"""
from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import write_json
from ..executors import Executor, Launch, Outcome, describe_handles, handle_key
from ..faults import fault_point
from ..job.worker import DEFAULT_RUNNER, PROGRESS, RESULT
from ..queue import JobQueue, JobRecord, JobState, NewJob, default_owner, owner_alive
from ..study.configs import dump_config
from ..study.plan import Plan, PlannedJob
from ..workspace import REPO_ROOT, Workspace
from .progress import Display, JobView, PlainDisplay, Snapshot, fmt_s, job_seconds, study_eta
from .tracking import Tracker

Printer = Callable[[str], None]


@dataclass
class JobOptions:
    """What the run tells every job, written into each ``job.json`` as is.

    Attributes:
        latency_images: Images timed for ``time_ms`` by each job (0 disables).
        system_metrics: Jobs log MLflow's system metrics (CPU, memory, disk, network, GPU;
            ``system/...``) into their runs (``orchestrator run --system-metrics``).
    """

    latency_images: int = 10
    system_metrics: bool = False


@dataclass
class Settings:
    """Timing knobs of the run loop, and the options every job gets.

    Attributes:
        poll_s: Sleep between loop turns.
        heartbeat_s: Seconds between heartbeats (and stale-job checks).
        stale_s: Heartbeat age after which a job of an unreachable owner is requeued.
        progress_s: Seconds between progress lines when nothing else happens.
        job: Options written into every job's ``job.json``.
    """

    poll_s: float = 0.25
    heartbeat_s: float = 5.0
    stale_s: float = 120.0
    progress_s: float = 15.0
    job: JobOptions = field(default_factory=JobOptions)


@dataclass
class Summary:
    """What a run did."""

    counts: dict[str, int]
    started: list[str] = field(default_factory=list)
    seconds: float = 0.0
    overhead_s: dict[str, list[float]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.counts.get(JobState.FAILED) and not self.counts.get(JobState.CANCELLED)


def enqueue_plan(plan: Plan, queue: JobQueue, cache_hits: dict[str, str]) -> list[str]:
    """Put the plan's jobs in the queue; returns the ids that were new."""
    retries = plan.study.retries
    jobs = [NewJob(job.job_id, job.spec(plan.study, plan.profile, plan.dataset),
                   max_attempts=retries + 1, family=job.family,
                   state=JobState.SUCCEEDED if job.job_id in cache_hits else JobState.QUEUED,
                   run_id=cache_hits.get(job.job_id))
            for job in plan.jobs]
    new = queue.enqueue(plan.study.name, jobs)
    # Jobs of an earlier version of the study file (or of the model code) leave the study;
    # they stay in the queue for other studies that share them.
    queue.detach(plan.study.name, {j.job_id for j in plan.jobs})
    return new


def _error_text(work: Path, log: Path, outcome: Outcome) -> tuple[str, bool]:
    """(one-paragraph error, retryable) from the job's error.json or its log tail."""
    err = work / "error.json"
    if err.exists():
        try:
            data = json.loads(err.read_text())
            err.unlink()
            # NaN, bad data, a config that does not build: a retry would fail the same way.
            retryable = not data.get("deterministic", data.get("type") == "FloatingPointError")
            return f"{data.get('type')}: {data.get('message')}", retryable
        except (OSError, ValueError):
            pass
    tail = ""
    if log.exists():
        with open(log, "rb") as f:
            f.seek(max(0, log.stat().st_size - 2000))
            lines = f.read().decode(errors="replace").strip().splitlines()
        tail = lines[-1] if lines else ""
    rc = outcome.returncode
    what = f"killed by signal {-rc}" if rc < 0 else f"exit status {rc}"
    return f"process {what}" + (f"; last log line: {tail}" if tail else ""), True


class Scheduler:
    """Drives one plan's jobs through an executor until none is left.

    Args:
        plan: The validated plan.
        queue: The job queue (jobs already enqueued).
        executor: Where jobs run.
        workspace: Work dirs live here.
        tracker: MLflow writer (``None``: no tracking, e.g. in tests).
        worker_uri: Tracking URI the job processes use (a loopback server or the store).
        experiment_id: MLflow experiment of the study.
        parent_id: The study's parent run.
        settings: Timing knobs.
        out: Where event lines go (a job started, ended, failed).
        display: Where progress goes (default: plain lines to ``out`` every
            ``settings.progress_s``; ``orchestrator run`` shows a live one on a terminal).
    """

    def __init__(self, plan: Plan, queue: JobQueue, executor: Executor, workspace: Workspace,
                 tracker: Tracker | None = None, worker_uri: str | None = None,
                 experiment_id: str | None = None, parent_id: str | None = None,
                 settings: Settings | None = None, out: Printer = print,
                 display: Display | None = None) -> None:
        self.plan, self.queue, self.executor, self.ws = plan, queue, executor, workspace
        self.tracker, self.worker_uri = tracker, worker_uri
        self.experiment_id, self.parent_id = experiment_id, parent_id
        self.settings = settings or Settings()
        self.out = out
        self.display: Display = display or PlainDisplay(out, self.settings.progress_s)
        self._durations: list[float] = []  # of the jobs that succeeded in this run
        self._history_s: float | None = None
        self._history_read = False
        self.owner = default_owner()
        self._jobs = {j.job_id: j for j in plan.jobs}
        self._owned: dict[str, JobRecord] = {}
        self._started_at: dict[str, float] = {}
        self.overhead: dict[str, list[float]] = {"prepare_s": [], "mlflow_run_s": []}
        self._t0 = time.time()

    # ------------------------------------------------------------------ one job

    def _probe(self) -> Launch:
        """A launch with the plan's resources, to ask the executor for room before claiming."""
        res = self.plan.profile.resources
        return Launch("?", [], Path(os.devnull), REPO_ROOT, gpus=res.gpus_per_job,
                      cpus=res.cpus_per_job, procs=res.procs_per_job, nodes=res.nodes_per_job)

    def prepare(self, rec: JobRecord) -> Launch:
        """Work dir, resolved config, MLflow run and ``job.json`` of a claimed job."""
        t0 = time.perf_counter()
        job = self._jobs[rec.job_id]
        work = self.ws.job_dir(rec.job_id)
        work.mkdir(parents=True, exist_ok=True)
        config = work / "config.py"
        # Written at every attempt (atomically, and cheap): a config.py that an older run left
        # empty or half-written never outlives the next attempt.
        dump_config(job.config, config)
        run_id = rec.run_id
        if self.tracker is not None:
            t1 = time.perf_counter()
            if run_id is None:
                assert self.experiment_id is not None and self.parent_id is not None
                run_id = self.tracker.job_run(self.plan, job, self.experiment_id,
                                              self.parent_id)
                fault_point("prepare.run_created")  # a rerun finds the run by its job hash
                self.queue.set_run_id(rec.job_id, run_id)
            else:
                self.tracker.job_restarted(run_id, rec.attempts)
            self.overhead["mlflow_run_s"].append(time.perf_counter() - t1)
        spec = self.job_spec(rec, job, config, run_id)
        write_json(work / "job.json", spec)
        res = self.plan.profile.resources
        pythonpath = os.pathsep.join(filter(None, [str(REPO_ROOT),
                                                   os.environ.get("PYTHONPATH")]))
        launch = Launch(rec.job_id, [sys.executable, "-m", "orchestrator.job",
                                     str(work / "job.json")],
                        log=work / "worker.log", cwd=REPO_ROOT,
                        env={"PYTHONPATH": pythonpath,
                             "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"},
                        gpus=res.gpus_per_job, cpus=res.cpus_per_job,
                        procs=res.procs_per_job, nodes=res.nodes_per_job)
        self.overhead["prepare_s"].append(time.perf_counter() - t0)
        return launch

    def _adopt(self) -> None:
        """Take over running jobs of a gone orchestrator that still run in the backend.

        Only for detached executors: a ``running`` job of this plan whose owner is dead (on
        this host) or silent for ``stale_s`` (elsewhere), with a handle of this executor,
        is moved to this owner (release + claim: the attempt count does not change) and
        handed to :meth:`Executor.adopt`. A job the backend no longer knows goes back to
        ``queued`` and is submitted again (resuming from its checkpoint).
        """
        if not self.executor.detached:
            return
        now = time.time()
        for rec in self.queue.jobs(self.plan.study.name, [JobState.RUNNING]):
            if rec.job_id not in self._jobs or rec.job_id in self._owned or not rec.owner:
                continue
            alive = owner_alive(rec.owner)
            if alive or (alive is None and now - (rec.heartbeat or 0) <= self.settings.stale_s):
                continue
            handle = self.queue.get_meta(handle_key(rec.job_id))
            if not handle or not handle.startswith(f"{self.executor.name}:"):
                continue
            if not self.queue.release(rec.job_id, rec.owner):
                continue  # someone else took it meanwhile
            taken = self.queue.claim(self.owner, self.plan.study.name, [rec.job_id])
            if taken is None:
                continue
            work = self.ws.job_dir(taken.job_id)
            launch = Launch(taken.job_id, [], log=work / "worker.log", cwd=REPO_ROOT)
            if self.executor.adopt(launch, handle):
                self._owned[taken.job_id] = taken
                self._started_at[taken.job_id] = rec.started or now
                where = describe_handles({taken.job_id: handle}).get(taken.job_id, handle)
                self.out(f"  adopted {self._label(taken.job_id)}: {where}")
            else:
                self.queue.release(taken.job_id, self.owner)
                self.out(f"  lost    {self._label(taken.job_id)}: {handle} is unknown to "
                         "the backend; submitting it again")

    def job_spec(self, rec: JobRecord, job: PlannedJob, config: Path,
                 run_id: str | None) -> dict[str, Any]:
        """The ``job.json`` of a claimed job (:mod:`orchestrator.job.worker` reads it).

        The runner is the config's ``job_runner`` (``dict(type='module:function', **options)``)
        or the mmengine training. A subclass adds its own keys (a search its trial).
        """
        runner = dict(job.config.get("job_runner") or {})
        return {
            "job_id": rec.job_id, "runner": runner.pop("type", DEFAULT_RUNNER),
            "options": runner, "config": str(config), "work_dir": str(config.parent),
            "run_id": run_id, "tracking_uri": self.worker_uri if run_id else None,
            "attempt": rec.attempts, "seed": job.seed, "prepared_at": time.time(),
            **asdict(self.settings.job)}

    def _succeeded(self, rec: JobRecord) -> None:
        """Record a success in the queue, then in MLflow (both idempotent, in this order)."""
        fault_point("record.before_finish")
        self.queue.finish(rec.job_id, self.owner, JobState.SUCCEEDED)
        fault_point("record.after_finish")
        run_id = rec.run_id or getattr(self.queue.get(rec.job_id), "run_id", None)
        if self.tracker is not None and run_id:
            self.tracker.job_succeeded(run_id)

    def _finished_before(self, rec: JobRecord) -> bool:
        """Whether the claimed job's ``result.json`` exists: it finished, and an orchestrator
        died before recording it. Records the success instead of running the job again."""
        try:
            data = json.loads((self.ws.job_dir(rec.job_id) / RESULT).read_text())
        except (OSError, ValueError):
            return False
        if data.get("job_id") != rec.job_id:
            return False
        self._succeeded(rec)
        self.out(f"  done    {self._label(rec.job_id)}: finished before the last orchestrator "
                 "died (result.json); recorded, not run again")
        return True

    def _label(self, job_id: str) -> str:
        job = self._jobs.get(job_id)
        return f"{job_id[:8]} ({job.name})" if job else job_id[:8]

    def _record(self, outcome: Outcome) -> None:
        rec = self._owned.pop(outcome.job_id)
        work = self.ws.job_dir(outcome.job_id)
        log = work / "worker.log"
        took = time.time() - self._started_at.pop(outcome.job_id, time.time())
        ok = outcome.returncode == 0 and (work / RESULT).exists()
        if ok:
            self._succeeded(rec)
            self._durations.append(took)
            self.out(f"  done    {self._label(outcome.job_id)} in {fmt_s(took)} "
                     f"on {outcome.device}")
            return
        current = self.queue.get(outcome.job_id)
        # A detached job can also be stopped from outside (orchestrator cancel's scancel).
        stopped = outcome.cancelled or self.executor.detached
        if stopped and current is not None and current.state != JobState.RUNNING:
            final = current.state == JobState.CANCELLED
            if self.tracker is not None and rec.run_id and final:
                self.tracker.job_failed(rec.run_id, "cancelled", log, final=True,
                                        attempts=rec.attempts, cancelled=True)
            self.out(f"  stopped {self._label(outcome.job_id)}: "
                     f"{'cancelled' if final else 'lease lost'}")
            return
        error, retryable = _error_text(work, log, outcome)
        state = self.queue.finish(outcome.job_id, self.owner, JobState.FAILED, error,
                                  retry=retryable)
        run_id = rec.run_id or (current.run_id if current else None)
        if self.tracker is not None and run_id:
            self.tracker.job_failed(run_id, error, log, final=state == JobState.FAILED,
                                    attempts=rec.attempts)
        then = (f"retrying (attempt {rec.attempts + 1}/{rec.max_attempts})"
                if state == JobState.QUEUED else f"giving up after {rec.attempts} attempt(s)" + (
                    "" if retryable else " (not retried: it would fail the same way)"))
        self.out(f"  FAILED  {self._label(outcome.job_id)}: {error}\n"
                 f"          log: {log}; {then}")

    # ------------------------------------------------------------------ hooks
    # What a subclass (a search) builds on; the run loop's own state stays private.

    def job(self, job_id: str) -> PlannedJob | None:
        """The planned job ``job_id`` (``None``: not part of this plan)."""
        return self._jobs.get(job_id)

    def add_job(self, job: PlannedJob) -> None:
        """Make ``job`` part of the plan while running (a search adds its trials'); the
        caller enqueues it."""
        if job.job_id not in self._jobs:
            self.plan.jobs.append(job)
            self._jobs[job.job_id] = job

    @property
    def running(self) -> frozenset[str]:
        """Ids of the jobs this scheduler started and has not recorded yet."""
        return frozenset(self._owned)

    @property
    def elapsed(self) -> float:
        """Seconds since this scheduler was created."""
        return time.time() - self._t0

    def room(self) -> int:
        """Jobs of the plan's resources the executor could take beyond the running and
        queued ones (may be negative)."""
        return (self.executor.slots(self._probe()) - len(self._owned)
                - self.counts()[JobState.QUEUED])

    def on_outcome(self, job_id: str) -> None:
        """Called after an outcome of ``job_id`` is recorded (queue state, MLflow run);
        a search tells Optuna here. The default does nothing."""

    def headline(self, counts: dict[str, int]) -> str:
        """The first part of a progress line (the per-job parts follow it)."""
        total = sum(counts.values()) - counts[JobState.CANCELLED]
        return (f"[{fmt_s(self.elapsed)}] {self.plan.study.name}: "
                f"{counts[JobState.SUCCEEDED]}/{total} done, {counts[JobState.RUNNING]} running, "
                f"{counts[JobState.FAILED]} failed, {counts[JobState.QUEUED]} queued")

    # ------------------------------------------------------------------ progress

    def snapshot(self, counts: dict[str, int]) -> Snapshot:
        """What the display shows now: the headline, each running job's progress (its
        ``progress.json``), and the study ETA from the measured job and iteration times."""
        now = time.time()
        jobs = [JobView.read(self.ws.job_dir(j) / PROGRESS, j,
                             getattr(self._jobs.get(j), "name", ""),
                             now - self._started_at.get(j, now)) for j in self._owned]
        eta = None
        if counts[JobState.RUNNING] or counts[JobState.QUEUED]:
            if not self._history_read:  # earlier runs of the same configs, read once
                import statistics

                same = [r.duration for r in self.queue.jobs(states=[JobState.SUCCEEDED])
                        if r.duration and r.family in {j.family for j in self._jobs.values()}]
                self._history_s = float(statistics.median(same)) if same else None
                self._history_read = True
            per_job = job_seconds(self._durations, jobs, self._history_s)
            slots = max(1, len(self._owned), self.executor.slots(self._probe()))
            eta = study_eta(jobs, counts[JobState.QUEUED], slots, per_job)
        return Snapshot(self._headline(counts), jobs, eta)

    def _headline(self, counts: dict[str, int]) -> str:
        headline = getattr(self, "headline", None)  # a subclass's (a search's trials)
        if headline is not None:
            return str(headline(counts))
        if type(self)._progress is not Scheduler._progress:  # a subclass's progress line
            return self._progress(counts).split(" | ")[0]
        total = sum(counts.values()) - counts[JobState.CANCELLED]
        parts = [f"{counts[JobState.SUCCEEDED]}/{total} done",
                 f"{counts[JobState.RUNNING]} running"]
        parts += [f"{counts[k]} {k}" for k in (JobState.FAILED, JobState.QUEUED) if counts[k]]
        return f"[{fmt_s(time.time() - self._t0)}] {self.plan.study.name}: " + \
            ", ".join(parts)

    def _progress(self, counts: dict[str, int]) -> str:
        parts = [self.headline(counts)]
        for job_id in self._owned:
            p = self.ws.job_dir(job_id) / PROGRESS
            try:
                d = json.loads(p.read_text())
            except (OSError, ValueError):
                parts.append(f"{job_id[:8]}: starting")
                continue
            it = f" it {d['iter']}/{d['max_iters']}" if "iter" in d else ""
            eta = f" eta {fmt_s(d['eta_s'])}" if "eta_s" in d else ""
            parts.append(f"{job_id[:8]}: {d.get('phase', 'train')} ep {d.get('epoch')}/"
                         f"{d.get('max_epochs')}{it}{eta}")
        return " | ".join(parts)

    # ------------------------------------------------------------------ loop

    def refill(self) -> None:
        """Called at every turn before claiming: a subclass may enqueue jobs here (a search
        asks Optuna for trials while the executor has room). The plan's jobs are fixed."""

    def counts(self) -> dict[str, int]:
        """Jobs of this plan per state (jobs of older versions of the study not counted)."""
        out = dict.fromkeys(JobState.ALL, 0)
        for rec in self.queue.jobs(self.plan.study.name):
            if rec.job_id in self._jobs:
                out[rec.state] += 1
        return out

    def run(self) -> Summary:
        """Run until no job of the study is queued or running; returns the counts."""
        s, study = self.settings, self.plan.study.name
        summary = Summary(counts={})
        last_beat = 0.0
        waiting_note = False
        try:
            while True:
                now = time.time()
                if now - last_beat >= s.heartbeat_s:
                    self._adopt()  # before requeue_stale, which would start them again
                    for job_id in self.queue.requeue_stale(s.stale_s):
                        self.out(f"  requeued {self._label(job_id)}: its orchestrator is gone "
                                 "(no attempt used)")
                    for job_id in list(self._owned):
                        if not self.queue.heartbeat(job_id, self.owner):
                            self.executor.cancel(job_id)  # cancelled or taken away
                    last_beat = now
                self.refill()
                changed = False
                while self.executor.can_start(self._probe()):
                    # Only this plan's jobs: the study's queue may still hold jobs of an
                    # earlier version of the study file (or code), which this plan can't run.
                    rec = self.queue.claim(self.owner, study, self._jobs)
                    if rec is None:
                        break
                    if self._finished_before(rec):
                        changed = True
                        continue
                    try:
                        launch = self.prepare(rec)
                    except Exception as exc:  # noqa: BLE001 - a job that cannot start fails
                        self.queue.finish(rec.job_id, self.owner, JobState.FAILED,
                                          f"could not prepare: {type(exc).__name__}: {exc}")
                        self.out(f"  FAILED  {self._label(rec.job_id)}: cannot prepare: {exc}")
                        continue
                    rec.run_id = rec.run_id or self.queue.get(rec.job_id).run_id  # type: ignore[union-attr]
                    self.executor.submit(launch)
                    handle = self.executor.handle(rec.job_id)
                    if handle:  # detached: the next orchestrator adopts the job by it
                        self.queue.set_meta(handle_key(rec.job_id), handle)
                    self._owned[rec.job_id] = rec
                    self._started_at[rec.job_id] = time.time()
                    summary.started.append(rec.job_id)
                    self.out(f"  start   {self._label(rec.job_id)} attempt {rec.attempts}/"
                             f"{rec.max_attempts}")
                    changed = True
                for outcome in self.executor.poll():
                    if outcome.job_id in self._owned:
                        self._record(outcome)
                        self.on_outcome(outcome.job_id)
                        changed = True
                counts = self.counts()
                self.display.update(self.snapshot(counts), changed)
                if not self._owned and counts[JobState.QUEUED] == 0:
                    if counts[JobState.RUNNING] == 0:
                        break
                    if not waiting_note:
                        self.out(f"  waiting for {counts[JobState.RUNNING]} job(s) run by another "
                                 "orchestrator process")
                        waiting_note = True
                time.sleep(s.poll_s)
        except BaseException:
            if self.executor.detached:
                # Ctrl-C / SIGTERM / a crash: the jobs keep running; the next run adopts them.
                if self._owned:
                    self.out(f"  {len(self._owned)} {self.executor.name} job(s) keep running; "
                             "`orchestrator run` again adopts them, `orchestrator cancel` "
                             "stops them")
                raise
            # Ctrl-C / SIGTERM: stop our jobs and hand them back without using an attempt.
            for job_id in list(self._owned):
                self.executor.cancel(job_id)
                self.queue.release(job_id, self.owner)
            raise
        summary.counts = self.counts()
        summary.seconds = time.time() - self._t0
        summary.overhead_s = self.overhead
        return summary
