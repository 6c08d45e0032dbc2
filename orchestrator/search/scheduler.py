"""The search's run loop (driver side): ask Optuna while the executor has room, tell it
when a trial's job ends."""
from __future__ import annotations

import dataclasses
import json
import math
import socket
import time
from pathlib import Path
from typing import Any, cast

from ..job.worker import RESULT
from ..queue import JobRecord, JobState, NewJob
from ..run.progress import fmt_s
from ..run.scheduler import Scheduler
from ..study.plan import PlannedJob
from .job import TRIAL_RUNNER
from .planner import (
    ERROR_ATTR,
    JOB_ATTR,
    ORPHAN_AGE_S,
    ORPHAN_ATTR,
    OWNER_ATTR,
    RUN_ATTR,
    SearchPlan,
    TrialJob,
    _fmt,
)
from .report import MLFLOW_PAGE_ATTR
from .space import check_values
from .trial import LAST_VALUE, PRUNED_STEP


class SearchScheduler(Scheduler):
    """The run loop with Optuna: ask while there is room, tell when a job ends.

    Args:
        sp: The search plan.
        study: The Optuna study (RDB storage).
        storage: Its storage object.
        *args, **kwargs: :class:`~orchestrator.run.scheduler.Scheduler`'s (its plan is a
            copy of ``sp.base`` whose job list grows with the trials).
    """

    def __init__(self, sp: SearchPlan, study: Any, storage: Any, *args: Any,
                 **kwargs: Any) -> None:
        plan = dataclasses.replace(sp.base, jobs=[])
        super().__init__(plan, *args, **kwargs)
        self.sp, self.study, self.storage = sp, study, storage
        self.study_id = storage.get_study_id_from_name(sp.optuna_name)
        self.owner_key = f"{socket.gethostname()}:{self.ws.queue_path}"
        timeout = sp.spec.timeout_s
        self.deadline = time.time() + timeout if timeout else None
        self.budget = sp.spec.budget()
        self.closed = False
        self.asked: list[int] = []
        self.elsewhere = 0
        self._unsettled: set[str] = set()

    # -------------------------------------------------------------- trials

    def trials(self) -> list[Any]:
        return self.storage.get_all_trials(self.study_id, deepcopy=False)

    def adopt(self, job: TrialJob) -> None:
        self.add_job(job)
        self._unsettled.add(job.job_id)

    def _trial_id(self, number: int) -> int:
        return self.storage.get_trial_id_from_study_id_trial_number(self.study_id, number)

    def _enqueue(self, job: TrialJob) -> None:
        retries = self.sp.study.retries
        self.queue.enqueue(self.plan.study.name, [NewJob(
            job.job_id, {**job.spec(self.plan.study, self.plan.profile, self.plan.dataset),
                         "trial": job.number},
            max_attempts=retries + 1, family=job.family)])

    def ask(self) -> TrialJob:
        """A new trial, its job enqueued."""
        dists = {p.name: p.distribution() for p in self.sp.spec.params}
        trial = self.study.ask(fixed_distributions=dists)
        trial.set_user_attr(OWNER_ATTR, self.owner_key)
        job = self.sp.trial_job(trial.number, trial.params)
        trial.set_user_attr(JOB_ATTR, job.job_id)
        self._enqueue(job)
        self.adopt(job)
        self.asked.append(trial.number)
        self.out(f"  ask     trial {trial.number} -> job {job.job_id[:8]}: "
                 + ", ".join(f"{k}={_fmt(v)}" for k, v in trial.params.items()))
        return job

    def refill(self) -> None:
        """Settle ended jobs; ask for trials while there is room and budget."""
        # A job can end without an outcome of ours (it failed to prepare, or another
        # process ran it): its trial is told here.
        for job_id in list(self._unsettled - self.running):
            rec = self.queue.get(job_id)
            if rec is not None and rec.state in JobState.TERMINAL:
                self.settle(job_id)
        if self.closed:
            return
        if self.deadline is not None and time.time() >= self.deadline:
            self.closed = True
            self.out("  time limit reached: no new trials; the running ones finish")
            return
        room = self.room()
        while room > 0:
            counted = [t for t in self.trials() if ORPHAN_ATTR not in t.user_attrs]
            if self.budget is not None and len(counted) >= self.budget:
                self.closed = True
                return
            self.ask()
            room -= 1

    def reconcile(self) -> dict[str, int]:
        """Take over this workspace's unfinished trials (after a crash or Ctrl-C)."""
        out = {"resumed": 0, "settled": 0, "enqueued": 0, "orphans": 0, "elsewhere": 0}
        now = time.time()
        for ft in list(self.trials()):
            if ft.state.name != "RUNNING":
                continue
            owner = ft.user_attrs.get(OWNER_ATTR)
            if owner is None:
                started = ft.datetime_start.timestamp() if ft.datetime_start else now
                if now - started > ORPHAN_AGE_S:
                    self._fail_orphan(ft, "its driver died before it got a job")
                    out["orphans"] += 1
                continue
            if owner != self.owner_key:
                out["elsewhere"] += 1
                continue
            missing = check_values(self.sp.spec.params, ft.params)
            if missing:
                self._fail_orphan(ft, f"the search space changed: no {missing}")
                out["orphans"] += 1
                continue
            job = self.sp.trial_job(ft.number, ft.params)
            stored = ft.user_attrs.get(JOB_ATTR)
            if stored and stored != job.job_id and self.queue.get(stored) is not None:
                job = dataclasses.replace(job, job_id=stored)  # code changed since
            rec = self.queue.get(job.job_id)
            if stored != job.job_id:
                self.storage.set_trial_user_attr(self._trial_id(ft.number), JOB_ATTR,
                                                 job.job_id)
            if rec is None:
                self._enqueue(job)
                out["enqueued"] += 1
            self.adopt(job)
            if rec is not None and rec.state in JobState.TERMINAL:
                self.settle(job.job_id, during_run=False)
                out["settled"] += 1
            elif rec is not None:
                out["resumed"] += 1
        self.elsewhere = out["elsewhere"]
        return out

    def _fail_orphan(self, ft: Any, why: str) -> None:
        self.storage.set_trial_user_attr(self._trial_id(ft.number), ORPHAN_ATTR, why)
        self._tell(ft.number, None, "FAIL")
        self.out(f"  trial {ft.number} recorded as failed: {why}")

    def _tell(self, number: int, value: float | None, state: str) -> None:
        from optuna.trial import TrialState

        try:
            self.study.tell(number, value if state == "COMPLETE" else None,
                            state=TrialState[state], skip_if_finished=True)
        except RuntimeError as exc:
            # The grid and brute-force samplers call study.stop() when the space is
            # exhausted, which only works inside optimize(); the budget stops us anyway.
            if "Study.stop" not in str(exc):
                raise

    def _result(self, job_id: str) -> dict[str, Any]:
        work = self.ws.job_dir(job_id)
        for name in (RESULT, "metrics.json"):
            try:
                data = json.loads((work / name).read_text())
            except (OSError, ValueError):
                continue
            return dict(data.get("metrics", data) if name == RESULT else data)
        return {}

    def settle(self, job_id: str, during_run: bool = True) -> None:
        """Tell Optuna (and MLflow) how the trial of a finished job ended.

        A job cancelled during this run (``orchestrator cancel``) stops the search: no
        new trials. One cancelled before it (found by :meth:`reconcile`) only fails.
        """
        job = self.job(job_id)
        rec = self.queue.get(job_id)
        if not isinstance(job, TrialJob) or rec is None or rec.state not in JobState.TERMINAL:
            return
        self._unsettled.discard(job_id)
        if rec.state == JobState.CANCELLED and during_run and not self.closed:
            self.closed = True  # `orchestrator cancel` stops the search, not one trial
            self.out("  a trial was cancelled: no new trials in this run")
        trial_id = self._trial_id(job.number)
        ft = self.storage.get_trial(trial_id)
        if ft.state.is_finished():
            return
        step: int | None = None
        value: float | None = None
        error = rec.error or ""
        if rec.state == JobState.SUCCEEDED:
            metrics = self._result(job_id)
            key = f"test/{self.sp.spec.metric}"
            if PRUNED_STEP in metrics:
                state, step = "PRUNED", int(metrics[PRUNED_STEP])
                value = metrics.get(LAST_VALUE)
            elif isinstance(metrics.get(key), int | float) and math.isfinite(metrics[key]):
                state, value = "COMPLETE", float(metrics[key])
            else:
                state, error = "FAIL", f"the job logged no finite {key}"
        else:
            state = "FAIL"
            error = error or rec.state
        if rec.run_id:
            self.storage.set_trial_user_attr(trial_id, RUN_ATTR, rec.run_id)
            if self.experiment_id:  # the run's page: append to the MLflow UI's address
                self.storage.set_trial_user_attr(
                    trial_id, MLFLOW_PAGE_ATTR,
                    f"#/experiments/{self.experiment_id}/runs/{rec.run_id}")
            if self.tracker is not None:
                try:
                    # a SearchTracker (search.commands builds one) when a tracker is set
                    cast(Any, self.tracker).trial_done(rec.run_id, state, value, step)
                except Exception as exc:  # noqa: BLE001 - Optuna is the record here
                    self.out(f"  (MLflow: could not tag trial {job.number}: {exc})")
        if state == "FAIL":
            self.storage.set_trial_user_attr(trial_id, ERROR_ATTR, error[-2000:])
        self._tell(job.number, value, state)
        best = self.best()
        what = {"COMPLETE": f"{self.sp.spec.metric} = {_fmt(value)}",
                "PRUNED": f"at step {step} ({_fmt(value)})",
                "FAIL": error[:200] if rec.state != JobState.CANCELLED else "cancelled"}[state]
        self.out(f"  trial   {job.number} {state}: {what}"
                 + (f"; best {_fmt(best.value)} (trial {best.number})" if best else ""))

    def best(self) -> Any:
        from .report import best_trial

        return best_trial(self.study)

    # -------------------------------------------------------------- overrides

    def job_spec(self, rec: JobRecord, job: PlannedJob, config: Path,
                 run_id: str | None) -> dict[str, Any]:
        """The job's ``job.json`` with its trial: the trial runner activates the trial and
        calls the config's own runner inside it."""
        spec = super().job_spec(rec, job, config, run_id)
        assert isinstance(job, TrialJob)  # a search schedules trial jobs only
        spec["trial"] = {"storage": self.sp.storage_url, "study": self.sp.optuna_name,
                         "number": job.number, "metric": self.sp.spec.metric,
                         "pruner": dict(self.sp.spec.pruner), "runner": spec["runner"]}
        spec["runner"] = TRIAL_RUNNER
        return spec

    def on_outcome(self, job_id: str) -> None:
        """Tell Optuna how the trial ended, then ask for the next one at once (the loop ends
        at this turn when nothing is queued)."""
        self.settle(job_id)
        self.refill()

    def headline(self, counts: dict[str, int]) -> str:
        """Trial counts and the best value so far, instead of the job counts."""
        states = [t.state.name for t in self.trials() if ORPHAN_ATTR not in t.user_attrs]
        n = {s: states.count(s) for s in ("COMPLETE", "PRUNED", "FAIL", "RUNNING")}
        best = self.best()
        return (f"[{fmt_s(self.elapsed)}] {self.plan.study.name}: trials "
                f"{n['COMPLETE'] + n['PRUNED'] + n['FAIL']}/{self.budget or '?'} done "
                f"({n['COMPLETE']} complete, {n['PRUNED']} pruned, {n['FAIL']} failed), "
                f"{n['RUNNING']} running; best "
                + (f"{_fmt(best.value)} (trial {best.number})" if best else "-"))
