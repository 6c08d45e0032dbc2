"""Search studies (``kind: search``): an Optuna study whose trials are orchestrator jobs.

The driver is the ordinary run loop (:class:`orchestrator.scheduler.Scheduler`) with
three additions (:class:`SearchScheduler`): while the executor has room it *asks* Optuna
for a trial (ask-and-tell with RDB storage), turns the trial's parameters into a job (the
study's base config + profile patch + the parameters' config keys + profile override, with
:class:`~orchestrator.optuna_pruning_hook.OptunaPruningHook`) and enqueues it; when a job
ends it *tells* Optuna the objective (``test/<metric>`` of the job), or that the trial
was pruned (the job returned ``trial/pruned_step``) or failed (the job failed after its
retries). Trials therefore run through the same queue, executors, job process and MLflow
layout as ablation jobs: one child run per trial under one parent run per search, with
tags ``cm.trial``, ``cm.trial_state`` and params ``trial.<name>``.

Never a lost or repeated trial: each trial records its owner (host and queue) and its job
id as user attributes as soon as it exists, and a job id is unique to its trial. On start
the driver reconciles the trials it owns that Optuna still has as RUNNING: finished or
failed jobs are told, queued or interrupted ones are resumed (from their checkpoints), and
a trial whose job was never enqueued gets it now. Several machines may share one study
(``search.storage`` = a PostgreSQL URL): each runs its own trials; the ``n_trials``
budget counts the trials of all of them.

At the end (and with ``orchestrator trials STUDY``) the best trial's resolved config is
written as a ready-to-use config file, and a report (trials, best, parameter importances
by Optuna's default evaluator) goes to the terminal, the search folder
``<workspace>/searches/<study>/<profile>/`` and the parent MLflow run. User guide:
``docs/search.md``.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import signal
import socket
import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from .configs import (
    Tree,
    apply_patch,
    canonical,
    config_hash,
    diff,
    dump_config,
    get_path,
    patch_key_path,
)
from .errors import Problem, StudyError
from .plan import Plan, PlannedJob, build_model, plan_study
from .search_space import SearchSpec, check_values, make_storage, parse_search, redact
from .study import Profile, Study, load_study
from .workspace import REPO_ROOT, Workspace, find_study

HOOK_TYPE = "OptunaPruningHook"
HOOK_MODULE = "orchestrator.optuna_pruning_hook"
#: Trial user attributes written by the driver.
OWNER_ATTR, JOB_ATTR, RUN_ATTR, ERROR_ATTR, ORPHAN_ATTR = (
    "cm.owner", "cm.job_id", "cm.run_id", "cm.error", "cm.orphan")
#: A RUNNING trial without an owner (its driver died inside ``ask``) is failed after this.
ORPHAN_AGE_S = 600.0
STORAGE_ENV = "CM_OPTUNA_STORAGE"


def _say(text: str = "") -> None:
    print(text, flush=True)


def is_search_study(path: str | Path) -> bool:
    """Whether the study file says ``kind: search`` (cheap; no validation)."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and data.get("kind") == "search"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# --------------------------------------------------------------------------- planning

@dataclass
class TrialJob(PlannedJob):
    """The job of one trial.

    Attributes:
        number: Optuna trial number.
        params: The trial's parameters (name -> value).
    """

    number: int = -1
    params: dict[str, Any] = dataclasses.field(default_factory=dict)


def _with_hook(tree: Tree, metric: str) -> Tree:
    """``tree`` with the pruning hook (and the import that registers it)."""
    imports = dict(tree.get("custom_imports") or {"allow_failed_imports": False})
    names = imports.get("imports") or []
    names = [names] if isinstance(names, str) else list(names)
    imports["imports"] = [*names, HOOK_MODULE] if HOOK_MODULE not in names else names
    hooks = [h for h in tree.get("custom_hooks") or [] if h.get("type") != HOOK_TYPE]
    return {**tree, "custom_imports": imports,
            "custom_hooks": [*hooks, {"type": HOOK_TYPE, "metric": metric}]}


def without_hook(tree: Tree) -> Tree:
    """A trial config as a plain training config (no pruning hook, no search import)."""
    out = dict(tree)
    hooks = [h for h in out.get("custom_hooks") or [] if h.get("type") != HOOK_TYPE]
    if hooks:
        out["custom_hooks"] = hooks
    else:
        out.pop("custom_hooks", None)
    imports = dict(out.get("custom_imports") or {})
    if imports:
        names = imports.get("imports") or []
        imports["imports"] = [n for n in ([names] if isinstance(names, str) else names)
                              if n != HOOK_MODULE]
        out["custom_imports"] = imports
    return out


@dataclass
class SearchPlan:
    """A validated search study under one profile.

    Attributes:
        study, profile, spec: The study, profile and merged ``search:`` section.
        base: The plan of the base config alone (data set, code fingerprint, one job).
        storage_url: Optuna storage (SQLAlchemy URL).
        optuna_name: Optuna study name, ``<study>:<profile>``.
        workspace: Workspace root.
    """

    study: Study
    profile: Profile
    spec: SearchSpec
    base: Plan
    storage_url: str
    optuna_name: str
    workspace: Path

    @property
    def seed(self) -> int:
        return self.base.jobs[0].seed

    @property
    def folder(self) -> Path:
        """Where the report and the best config go."""
        return self.workspace / "searches" / self.study.name / self.profile.name

    def config_for(self, params: Mapping[str, Any]) -> tuple[Tree, list[str]]:
        """The resolved (unbound) trial config for ``params`` and the keys they set."""
        patch: dict[str, Any] = {}
        for p in self.spec.params:
            patch.update(p.patch(params[p.name]))
        tree, issues = apply_patch(self.base.base_config, patch)
        if issues:  # validated at planning time; only a changed config gets here
            raise StudyError([self.study.problem(("search", "space"), i.message)
                              for i in issues])
        tree, _ = apply_patch(tree, self.profile.override)
        return tree, [patch_key_path(k) for k in patch]

    def trial_job(self, number: int, params: Mapping[str, Any]) -> TrialJob:
        """The job of trial ``number`` (its id is unique to the trial)."""
        from .data import bind, manifest
        from .identity import ID_LENGTH, job_id

        tree, touched = self.config_for(params)
        tree = _with_hook(tree, self.spec.metric)
        chash = config_hash(tree)
        data = self.base.dataset
        bound = bind(tree, data)
        mani = manifest(bound, data, self.workspace / "cache" / "files.json")
        # The same parameters in two trials are two jobs: each trial has its own run.
        identity = f"{job_id(chash, self.seed, mani, self.base.code)}:{self.optuna_name}:{number}"
        jid = hashlib.sha256(identity.encode()).hexdigest()[:ID_LENGTH]
        final = {**bound, "randomness": {**(bound.get("randomness") or {}), "seed": self.seed}}
        base_after, _ = apply_patch(self.base.base_config, self.profile.override)
        shown = ", ".join(f"{k}={_fmt(params[k])}" for k in (p.name for p in self.spec.params))
        return TrialJob(job_id=jid, name=f"trial {number}: {shown}", levels={}, seed=self.seed,
                        config=final, config_hash=chash, diff=diff(base_after, tree, touched),
                        family=self.base.jobs[0].family, number=number, params=dict(params))

    def best_config(self, params: Mapping[str, Any]) -> Tree:
        """The ready-to-use config of ``params``: bound to the data set, seeded, no hook."""
        from .data import bind

        tree, _ = self.config_for(params)
        bound = bind(tree, self.base.dataset)
        return {**bound, "randomness": {**(bound.get("randomness") or {}), "seed": self.seed}}


def _key_path(p: Any, i: int) -> tuple[Any, ...]:
    return (*p.path, "keys", i) if len(p.keys) > 1 else (*p.path, "key")


def plan_search(study: Study, profile_name: str | None, *, workspace: Path, repo_root: Path,
                validate_build: bool = True) -> SearchPlan:
    """Validate a search study under a profile; nothing is asked or run.

    Raises:
        StudyError: Every problem found (file, line and key), before any trial starts.
    """
    profile = study.profile(profile_name)
    problems: list[Problem] = []
    if study.kind != "search":
        raise StudyError([study.problem(("kind",), "not a kind: search study")])
    if study.axes:
        problems.append(study.problem(("axes",), "a search study has no axes: its trials "
                                                 "come from search.space"))
    if len(profile.seeds or study.seeds) != 1:
        seeds_key = ("profiles", profile.name, "seeds") if profile.seeds else ("seeds",)
        problems.append(study.problem(seeds_key, "a search trial runs one seed; give one seed"))
    spec = parse_search(study, profile)  # raises with every file-level problem
    if problems:
        raise StudyError(problems)
    base = plan_study(dataclasses.replace(study, kind="ablation"), profile.name,
                      workspace=workspace, repo_root=repo_root, validate_build=validate_build)

    # Config keys: they exist (or are added with '+'), take the parameter's values, and
    # are not overwritten by the profile's override.
    override = {patch_key_path(k) for k in profile.override}
    tree0 = base.base_config
    for p in spec.params:
        for i, key in enumerate(p.keys):
            where = _key_path(p, i)
            reported = False
            for value in p.samples():
                _, issues = apply_patch(tree0, {key: value})
                for issue in issues:
                    problems.append(study.problem(where, f"{issue.message} (parameter "
                                                         f"{p.name!r} = {value!r})"))
                    reported = True
                if reported:
                    break
            found, old = get_path(tree0, key)
            if not reported and p.type == "float" and isinstance(old, int) and not isinstance(
                    old, bool):
                problems.append(study.problem(where, f"{key} is an integer ({old}) in the "
                                                     "config; use type: int"))
            if patch_key_path(key) in override:
                problems.append(study.problem(where, f"the profile's override sets {key} "
                                                     "after the search would: the parameter "
                                                     "could never change it"))
    if problems:
        raise StudyError(problems)

    # Models the space can produce must build: each choice / bound of a model parameter.
    if validate_build:
        from .data import bind

        seen: set[str] = set()
        for p in spec.params:
            if not any(patch_key_path(k).startswith("model.") for k in p.keys):
                continue
            for value in p.samples():
                tree, _ = apply_patch(tree0, p.patch(value))
                tree, _ = apply_patch(tree, profile.override)
                bound = bind(tree, base.dataset)
                model_key = canonical(bound.get("model"))
                if model_key in seen:
                    continue
                seen.add(model_key)
                try:
                    build_model(bound)
                except Exception as exc:  # noqa: BLE001 - reported with the study's lines
                    msg = f"{type(exc).__name__}: {exc}".splitlines()[0][:400]
                    problems.append(study.problem(p.path, f"model fails to build with "
                                                          f"{p.name} = {value!r}: {msg}"))
    if problems:
        raise StudyError(problems)

    # Hyperband needs the same brackets in the driver and in every job process: fix its
    # maximum resource to the schedule's length instead of Optuna's 'auto'.
    if spec.pruner["type"] in ("hyperband",) and "max_resource" not in spec.pruner:
        _, epochs = get_path(tree0, "train_cfg.max_epochs")
        _, iters = get_path(tree0, "train_cfg.max_iters")
        steps = epochs or iters
        if isinstance(steps, int) and steps > 0:
            spec = dataclasses.replace(spec, pruner={**spec.pruner, "max_resource": steps})

    ws_root = Path(workspace)
    url = _storage_url(spec, Workspace(ws_root))
    return SearchPlan(study=study, profile=profile, spec=spec, base=base, storage_url=url,
                      optuna_name=f"{study.name}:{profile.name}", workspace=ws_root)


def open_study(sp: SearchPlan, create: bool = True) -> tuple[Any, Any]:
    """``(optuna study, storage)`` of the search, created on first use.

    Raises:
        StudyError: The stored study optimises in the other direction.
    """
    import optuna

    from .search_space import make_pruner, make_sampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if sp.storage_url.startswith("sqlite:///"):
        Path(sp.storage_url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    try:
        storage = make_storage(sp.storage_url)
    except Exception as exc:  # noqa: BLE001 - a wrong URL, a missing driver, a down server
        raise StudyError([sp.study.problem(sp.spec.path("storage"), f"cannot open the Optuna "
                          f"storage {redact(sp.storage_url)}: {type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''}")]) from exc
    kwargs = dict(study_name=sp.optuna_name, storage=storage, sampler=make_sampler(sp.spec),
                  pruner=make_pruner(sp.spec.pruner))
    if create:
        study = optuna.create_study(direction=sp.spec.direction, load_if_exists=True, **kwargs)
    else:
        study = optuna.load_study(**kwargs)
    n = len(storage.get_all_trials(storage.get_study_id_from_name(sp.optuna_name),
                                   deepcopy=False))
    if n and sp.spec.sampler.get("seed") is not None:
        # A resumed search must not draw its seeded random numbers again: the new trials
        # would repeat the parameters of the first ones.
        seeded = {**sp.spec.sampler, "seed": int(sp.spec.sampler["seed"]) + n}
        study.sampler = make_sampler(dataclasses.replace(sp.spec, sampler=seeded))
    stored = study.direction.name.lower()
    if stored != sp.spec.direction:
        raise StudyError([sp.study.problem(sp.spec.path("direction"), f"the Optuna study "
                          f"{sp.optuna_name!r} in {redact(sp.storage_url)} was created to "
                          f"{stored}; rename the study or use another storage")])
    return study, storage


# --------------------------------------------------------------------------- MLflow

def _tracker_class() -> type:
    from .tracking import Tracker

    class SearchTracker(Tracker):
        """:class:`~orchestrator.tracking.Tracker` with the search's parent and trial runs."""

        def search_run(self, sp: SearchPlan, experiment_id: str, known: str | None) -> str:
            """The search's parent run (reused across runs of the same study and profile)."""
            from .identity import git_state

            run_id = None
            if known:
                try:
                    if self.client.get_run(known).info.lifecycle_stage == "active":
                        run_id = known
                except Exception:  # noqa: BLE001 - deleted or from another store
                    run_id = None
            if run_id is None:
                runs = self._search([experiment_id], "tags.`cm.role` = 'study' and "
                                    f"tags.`cm.profile` = '{sp.profile.name}'")
                run_id = runs[0].info.run_id if runs else None
            if run_id is None:
                commit, dirty = git_state(REPO_ROOT)
                name = f"{sp.study.name} [{sp.profile.name}]"
                tags = {"cm.role": "study", "cm.study": sp.study.name, "cm.table": "",
                        "cm.profile": sp.profile.name, "cm.dataset": sp.base.dataset.tag,
                        "cm.git_commit": commit, "cm.git_dirty": str(dirty).lower(),
                        "cm.study_file": str(sp.study.path), "mlflow.runName": name}
                run_id = self.client.create_run(experiment_id, tags=tags,
                                                run_name=name).info.run_id
                if sp.study.description:
                    self.client.set_tag(run_id, "mlflow.note.content", sp.study.description)
            self.client.update_run(run_id, status="RUNNING")
            spec = sp.spec
            # Tags, not params: a budget edited between runs must not clash with old values.
            tags = {"cm.kind": "search", "cm.optuna_study": sp.optuna_name,
                    "cm.optuna_storage": redact(sp.storage_url),
                    "cm.search.metric": spec.metric, "cm.search.direction": spec.direction,
                    "cm.search.n_trials": str(spec.n_trials),
                    "cm.search.timeout_s": str(spec.timeout_s),
                    "cm.search.sampler": json.dumps(dict(spec.sampler)),
                    "cm.search.pruner": json.dumps(dict(spec.pruner)),
                    "cm.search.space": "; ".join(line.strip() for line in
                                                 spec.describe()[3:])[:5000]}
            for k, v in tags.items():
                self.client.set_tag(run_id, k, v)
            return run_id

        def job_run(self, plan: Plan, job: PlannedJob, experiment_id: str,
                    parent_id: str) -> str:
            run_id = super().job_run(plan, job, experiment_id, parent_id)
            if isinstance(job, TrialJob):
                import mlflow.entities

                self.client.set_tag(run_id, "cm.trial", str(job.number))
                self.client.set_tag(run_id, "cm.trial_state", "RUNNING")
                self.client.set_tag(run_id, "cm.optuna_study",
                                    f"{plan.study.name}:{plan.profile.name}")
                params = [mlflow.entities.Param(f"trial.{k}", str(v)[:500])
                          for k, v in job.params.items()]
                run = self.client.get_run(run_id)
                params = [p for p in params if p.key not in run.data.params]
                if params:
                    self.client.log_batch(run_id, params=params)
            return run_id

        def trial_done(self, run_id: str, state: str, value: float | None,
                       step: int | None = None) -> None:
            """Final trial tags: ``cm.trial_state``, ``cm.status=pruned``, ``objective``."""
            self.client.set_tag(run_id, "cm.trial_state", state)
            if state == "PRUNED":
                self.client.set_tag(run_id, "cm.status", "pruned")
                if step is not None:
                    self.client.set_tag(run_id, "cm.pruned_step", str(step))
            if value is not None and math.isfinite(value):
                self.client.log_metric(run_id, "objective", float(value))

    return SearchTracker


# --------------------------------------------------------------------------- run loop

def _scheduler_class() -> type:
    from .queue import CANCELLED, QUEUED, SUCCEEDED, TERMINAL, NewJob
    from .scheduler import Scheduler, _fmt_s
    from .search_trial import LAST_VALUE, PRUNED_STEP
    from .worker import RESULT

    class SearchScheduler(Scheduler):
        """The run loop with Optuna: ask while there is room, tell when a job ends.

        Args:
            sp: The search plan.
            study: The Optuna study (RDB storage).
            storage: Its storage object.
            *args, **kwargs: :class:`~orchestrator.scheduler.Scheduler`'s (its plan is a
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
            if job.job_id not in self._jobs:
                self.plan.jobs.append(job)
                self._jobs[job.job_id] = job
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
            for job_id in list(self._unsettled - set(self._owned)):
                rec = self.queue.get(job_id)
                if rec is not None and rec.state in TERMINAL:
                    self.settle(job_id)
            if self.closed:
                return
            if self.deadline is not None and time.time() >= self.deadline:
                self.closed = True
                self.out("  time limit reached: no new trials; the running ones finish")
                return
            room = self.executor.slots(self._probe()) - len(self._owned) - self.counts()[QUEUED]
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
                if rec is not None and rec.state in TERMINAL:
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
            job = self._jobs.get(job_id)
            rec = self.queue.get(job_id)
            if not isinstance(job, TrialJob) or rec is None or rec.state not in TERMINAL:
                return
            self._unsettled.discard(job_id)
            if rec.state == CANCELLED and during_run and not self.closed:
                self.closed = True  # `orchestrator cancel` stops the search, not one trial
                self.out("  a trial was cancelled: no new trials in this run")
            trial_id = self._trial_id(job.number)
            ft = self.storage.get_trial(trial_id)
            if ft.state.is_finished():
                return
            step: int | None = None
            value: float | None = None
            error = rec.error or ""
            if rec.state == SUCCEEDED:
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
                if self.tracker is not None:
                    try:
                        # SearchTracker (see _tracker_class) when a tracker is set
                        cast(Any, self.tracker).trial_done(rec.run_id, state, value, step)
                    except Exception as exc:  # noqa: BLE001 - Optuna is the record here
                        self.out(f"  (MLflow: could not tag trial {job.number}: {exc})")
            if state == "FAIL":
                self.storage.set_trial_user_attr(trial_id, ERROR_ATTR, error[-2000:])
            self._tell(job.number, value, state)
            best = self.best()
            what = {"COMPLETE": f"{self.sp.spec.metric} = {_fmt(value)}",
                    "PRUNED": f"at step {step} ({_fmt(value)})",
                    "FAIL": error[:200] if rec.state != CANCELLED else "cancelled"}[state]
            self.out(f"  trial   {job.number} {state}: {what}"
                     + (f"; best {_fmt(best.value)} (trial {best.number})" if best else ""))

        def best(self) -> Any:
            done = [t for t in self.trials() if t.state.name == "COMPLETE"]
            if not done:
                return None
            pick = max if self.sp.spec.direction == "maximize" else min
            return pick(done, key=lambda t: t.value)

        # -------------------------------------------------------------- overrides

        def prepare(self, rec: Any) -> Any:
            launch = super().prepare(rec)
            job = self._jobs[rec.job_id]
            assert isinstance(job, TrialJob)  # a search schedules trial jobs only
            path = self.ws.job_dir(rec.job_id) / "job.json"
            data = json.loads(path.read_text())
            data["trial"] = {"storage": self.sp.storage_url, "study": self.sp.optuna_name,
                             "number": job.number, "metric": self.sp.spec.metric,
                             "pruner": dict(self.sp.spec.pruner)}
            if isinstance(data.get("fake"), dict):
                data["fake"].setdefault("metric", self.sp.spec.metric)
            path.write_text(json.dumps(data, indent=1))
            argv = ["orchestrator.search_worker" if a == "orchestrator.worker" else a
                    for a in launch.argv]
            return dataclasses.replace(launch, argv=argv)

        def _record(self, outcome: Any) -> None:
            super()._record(outcome)
            self.settle(outcome.job_id)
            # Ask for the next trial now: the loop ends at this turn when nothing is queued.
            self.refill()

        def _progress(self, counts: dict[str, int]) -> str:
            states = [t.state.name for t in self.trials() if ORPHAN_ATTR not in t.user_attrs]
            n = {s: states.count(s) for s in ("COMPLETE", "PRUNED", "FAIL", "RUNNING")}
            best = self.best()
            head = (f"[{_fmt_s(time.time() - self._t0)}] {self.plan.study.name}: trials "
                    f"{n['COMPLETE'] + n['PRUNED'] + n['FAIL']}/{self.budget or '?'} done "
                    f"({n['COMPLETE']} complete, {n['PRUNED']} pruned, {n['FAIL']} failed), "
                    f"{n['RUNNING']} running; best "
                    + (f"{_fmt(best.value)} (trial {best.number})" if best else "-"))
            jobs = super()._progress(counts).split(" | ")[1:]
            return " | ".join([head, *jobs])

    return SearchScheduler


# --------------------------------------------------------------------------- report

def report(sp: SearchPlan, study: Any, say: Any = _say) -> dict[str, Any]:
    """Trials, best trial, importances; writes the search folder. Returns what it wrote."""
    import optuna

    folder = sp.folder
    folder.mkdir(parents=True, exist_ok=True)
    trials = [t for t in study.get_trials(deepcopy=False) if ORPHAN_ATTR not in t.user_attrs]
    names = [p.name for p in sp.spec.params]
    states = [t.state.name for t in trials]
    counts = {s.lower(): states.count(s) for s in ("COMPLETE", "PRUNED", "FAIL", "RUNNING")}
    lines = [f"# Search {sp.study.name} [{sp.profile.name}]", "",
             f"Optuna study `{sp.optuna_name}` in `{redact(sp.storage_url)}`; "
             f"{sp.spec.direction} `test/{sp.spec.metric}`.", "",
             f"Trials: {len(trials)} ({counts['complete']} complete, {counts['pruned']} pruned, "
             f"{counts['fail']} failed, {counts['running']} running).", "",
             "| trial | state | value | " + " | ".join(names) + " | seconds | job |",
             "|---" * (5 + len(names)) + "|"]
    for t in trials:
        secs = t.duration.total_seconds() if t.duration else None
        lines.append(f"| {t.number} | {t.state.name} | "
                     f"{_fmt(t.value) if t.value is not None else ''} | "
                     + " | ".join(_fmt(t.params.get(n, '')) for n in names)
                     + f" | {'' if secs is None else f'{secs:.0f}'} | "
                       f"{t.user_attrs.get(JOB_ATTR, '')} |")
    out: dict[str, Any] = {"counts": counts, "folder": folder}
    done = [t for t in trials if t.state.name == "COMPLETE"]
    if done:
        best = (max if sp.spec.direction == "maximize" else min)(done, key=lambda t: t.value)
        tree = without_hook(sp.best_config(best.params))
        path = folder / "best_config.py"
        dump_config(tree, path)
        header = (f"# Best trial {best.number} of search {sp.study.name} [{sp.profile.name}]: "
                  f"test/{sp.spec.metric} = {best.value:.6g}\n# params: "
                  + ", ".join(f"{k}={v!r}" for k, v in best.params.items())
                  + "\n# Train it: python tools/train.py " + str(path) + "\n")
        path.write_text(header + path.read_text())
        out.update(best=best, best_config=path)
        lines += ["", f"Best: trial {best.number}, {sp.spec.metric} = {_fmt(best.value)}, "
                      + ", ".join(f"{k} = {_fmt(v)}" for k, v in best.params.items()),
                  f"Best config: `{path}`"]
    else:
        lines += ["", "No trial completed yet: no best config."]
    importances: dict[str, float] = {}
    if len(done) >= 2 and len(names) >= 1:
        try:
            importances = {k: float(v) for k, v in
                           optuna.importance.get_param_importances(study).items()}
        except Exception as exc:  # noqa: BLE001 - too few or identical trials
            lines += ["", f"Parameter importances: not available ({type(exc).__name__}: "
                          f"{exc})"]
    if importances:
        lines += ["", "Parameter importances (Optuna's default evaluator, "
                      f"{_default_evaluator()}, over {len(done)} complete trials):", ""]
        lines += [f"- {k}: {v:.3f}" for k, v in importances.items()]
    elif len(done) < 2:
        lines += ["", f"Parameter importances: need at least 2 complete trials "
                      f"({len(done)} so far)."]
    (folder / "importances.json").write_text(json.dumps(importances, indent=1))
    try:
        study.trials_dataframe().to_csv(folder / "trials.csv", index=False)
    except Exception:  # noqa: BLE001 - pandas missing; the report has the table
        pass
    text = "\n".join(lines) + "\n"
    (folder / "report.md").write_text(text)
    out.update(importances=importances, report=folder / "report.md", text=text)
    say(text.rstrip())
    return out


def _default_evaluator() -> str:
    import inspect

    import optuna

    src = inspect.getsource(optuna.importance.get_param_importances)
    for name in ("PedAnovaImportanceEvaluator", "FanovaImportanceEvaluator"):
        if f"{name}()" in src:
            return name
    return "default"


def _log_report(tracker: Any, parent: str, sp: SearchPlan, rep: Mapping[str, Any],
                jobs: Mapping[str, int]) -> None:
    """Trial counts, best value, importances and the report files on the parent run."""
    import mlflow.entities

    now = int(time.time() * 1000)
    metrics = [mlflow.entities.Metric(f"trials_{k}", float(v), now, 0)
               for k, v in rep["counts"].items()]
    metrics += [mlflow.entities.Metric(f"jobs_{k}", float(v), now, 0) for k, v in jobs.items()]
    metrics += [mlflow.entities.Metric(f"importance.{k}", v, now, 0)
                for k, v in rep["importances"].items()]
    best = rep.get("best")
    if best is not None:
        metrics.append(mlflow.entities.Metric("best_value", float(best.value), now, 0))
        tracker.client.set_tag(parent, "cm.best_trial", str(best.number))
        run_id = best.user_attrs.get(RUN_ATTR)
        if run_id:
            tracker.client.set_tag(parent, "cm.best_run_id", run_id)
    tracker.client.log_batch(parent, metrics=metrics)
    for name in ("best_config.py", "report.md", "importances.json", "trials.csv"):
        path = sp.folder / name
        if path.exists():
            tracker.client.log_artifact(parent, str(path), artifact_path="search")
    # Failed trials are a result of a search (a diverging learning rate), not its failure.
    tracker.client.set_terminated(parent, "FINISHED")


# --------------------------------------------------------------------------- commands

def _load(args: argparse.Namespace, ws: Workspace) -> SearchPlan:
    study = load_study(find_study(args.study))
    return plan_search(study, args.profile, workspace=ws.root, repo_root=REPO_ROOT)


def _banner(sp: SearchPlan) -> None:
    _say(f"search {sp.study.name} ({sp.study.path}), profile {sp.profile.name}: Optuna study "
         f"{sp.optuna_name!r} in {redact(sp.storage_url)}")
    _say(sp.base.dataset.banner())
    for line in sp.spec.describe():
        _say(line)


def cmd_plan(args: argparse.Namespace) -> int:
    """``orchestrator plan`` on a search study: the validated space, budget, past trials."""
    ws = Workspace.at(getattr(args, "workspace", None))
    t0 = time.perf_counter()
    try:
        sp = _load(args, ws)
    except StudyError as exc:
        _say(str(exc))
        return 2
    _banner(sp)
    if sp.profile.patch:
        _say(f"profile {sp.profile.name} patches {len(sp.profile.patch)} key(s) of the base: "
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
        _say(f"stored trials: {known} (" + ", ".join(
            f"{states.count(s)} {s.lower()}" for s in sorted(set(states))) + ")")
    except Exception:  # noqa: BLE001 - no study yet
        _say("stored trials: none yet")
    budget = sp.spec.budget()
    _say(f"to run: {max(0, budget - known) if budget else 'until the timeout'} trial(s); "
         f"planned in {time.perf_counter() - t0:.2f} s; nothing was run")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """``orchestrator run`` on a search study."""
    from .launching import open_executor, serve_store
    from .queue import SqliteQueue
    from .scheduler import Settings

    ws = Workspace.at(getattr(args, "workspace", None))
    t_start = time.perf_counter()
    try:
        sp = _load(args, ws)
        study, storage = open_study(sp)
    except StudyError as exc:
        _say(str(exc))
        return 2
    _banner(sp)
    uri = ws.tracking_uri(getattr(args, "tracking_uri", None))
    local_store = uri.startswith("sqlite:///")
    tracker_cls = _tracker_class()
    tracker = tracker_cls(uri, ws.artifacts if local_store else None)
    queue = SqliteQueue(ws.queue_path)
    exp_id = tracker.experiment_id(sp.study.name)
    meta_key = f"parent:{sp.study.name}:{sp.profile.name}"
    parent = tracker.search_run(sp, exp_id, queue.get_meta(meta_key))
    queue.set_meta(meta_key, parent)

    executor, slots = open_executor(args, sp.profile.resources)
    _say(f"{executor.describe()}; up to {slots} trial(s) at once")
    store = serve_store(uri, ws, slots)
    worker_uri = store.worker_uri
    if store.server is not None:
        tracker = tracker_cls(worker_uri, ws.artifacts)
        _say(f"MLflow: {uri} served at {worker_uri} for this run")
    else:
        _say(f"MLflow: {uri}")

    def _term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _term)
    sched = _scheduler_class()(sp, study, storage, queue, executor, ws, tracker, worker_uri,
                               exp_id, parent, Settings(latency_images=args.latency_images),
                               out=_say)
    summary = None
    rep: dict[str, Any] = {}
    try:
        rec = sched.reconcile()
        if any(rec.values()):
            _say("taken over from an earlier run: " + ", ".join(
                f"{v} {k}" for k, v in rec.items() if v)
                 + (" (trials running on other machines are left to them)"
                    if rec["elsewhere"] else ""))
        summary = sched.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
        executor.shutdown()
        try:
            if summary is not None:
                rep = report(sp, study)
                _log_report(tracker, parent, sp, rep, summary.counts)
        finally:
            store.stop()
    counts = rep.get("counts", {})
    _say(f"{sp.study.name}: {len(sched.asked)} trial(s) asked in this run; "
         f"{counts.get('complete', 0)} complete, {counts.get('pruned', 0)} pruned, "
         f"{counts.get('fail', 0)} failed in all; {time.perf_counter() - t_start:.0f} s")
    prep = summary.overhead_s.get("prepare_s") or [0.0] if summary else [0.0]
    _say(f"orchestrator overhead: plan {sp.base.seconds['total']:.2f} s, per trial prepare "
         f"{statistics.median(prep):.2f} s median")
    if rep.get("best_config"):
        _say(f"best config: {rep['best_config']}")
    return 0 if rep.get("best") is not None else 1


def _storage_url(spec: SearchSpec, ws: Workspace) -> str:
    return spec.storage or os.environ.get(STORAGE_ENV) or f"sqlite:///{ws.root / 'optuna.db'}"


def cmd_status(args: argparse.Namespace) -> int:
    """``orchestrator status`` on a search study: each job with its trial's Optuna state.

    Quick: reads the study file, the queue and the Optuna storage; plans nothing. A pruned
    trial's job is ``succeeded`` in the queue (it ended as designed) and ``PRUNED`` here.
    """
    import optuna

    from .queue import SqliteQueue
    from .scheduler import _fmt_s

    ws = Workspace.at(getattr(args, "workspace", None))
    try:
        study = load_study(find_study(args.study))
    except StudyError as exc:
        _say(str(exc))
        return 2
    queue = SqliteQueue(ws.queue_path)
    jobs = queue.jobs(study.name)
    if not jobs:
        _say(f"no trials of search {study.name!r} in {ws.queue_path}")
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
    _say(f"{'job':16}  {'state':9} {'trial':>5} {'optuna':8} {'value':>8} {'try':>5}  "
         f"{'time':>8}  {'name':44} run / error")
    for j in jobs:
        t = trials.get(j.job_id)
        value = "" if t is None or t.value is None else _fmt(t.value)
        tail = j.run_id or ""
        if j.error and j.state != "succeeded":
            tail += f"  {j.error[:120]}"
        _say(f"{j.job_id:16}  {j.state:9} {'' if t is None else t.number:>5} "
             f"{'' if t is None else t.state.name:8} {value:>8} "
             f"{j.attempts:>2}/{j.max_attempts:<2}  "
             f"{_fmt_s(j.duration) if j.duration else '':>8}  {j.spec.get('name', ''):44} "
             f"{tail}")
    states = [t.state.name for t in trials.values()]
    _say(", ".join(f"{states.count(s)} {s.lower()}" for s in
                   ("COMPLETE", "PRUNED", "FAIL", "RUNNING") if states.count(s)))
    return 0


def cmd_trials(args: argparse.Namespace) -> int:
    """``orchestrator trials STUDY``: the search's trials, best config and importances."""
    ws = Workspace.at(getattr(args, "workspace", None))
    try:
        sp = _load(args, ws)
        study, _ = open_study(sp, create=False)
    except StudyError as exc:
        _say(str(exc))
        return 2
    except KeyError:
        _say(f"no Optuna study {args.study!r} in {ws.root}: run it first")
        return 1
    rep = report(sp, study)
    return 0 if rep.get("best") is not None else 1


def register(sub: Any) -> None:
    """Add ``trials`` (``run`` and ``plan`` dispatch search studies here themselves)."""
    p = sub.add_parser("trials", help="a search study's trials, best config and parameter "
                                      "importances")
    p.add_argument("study")
    p.add_argument("--profile", default=None)
    p.add_argument("--workspace", default=argparse.SUPPRESS)
    p.add_argument("--tracking-uri", default=argparse.SUPPRESS)
    p.set_defaults(func=cmd_trials)
