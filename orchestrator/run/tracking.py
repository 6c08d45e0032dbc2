"""MLflow layout of ``docs/contracts.md`` §1, written through ``MlflowClient`` with explicit ids.

* One experiment per study (named after the study), created with an explicit artifact
  location in the workspace for the default SQLite store.
* One parent run per study and profile (``cm.role=study``), one child run per job
  (``cm.role=job``, ``mlflow.parentRunId``), created by the orchestrator before the job
  starts and handed to the job process by id; a retried job reuses its run.
* Jobs already finished anywhere in the store (tag ``cm.job_hash``, ``cm.status=succeeded``)
  are cache hits and do not run again.

Concurrency: a SQLite store has one writer at a time. When several jobs run at once on
the default store, :class:`LoopbackServer` serves it on 127.0.0.1 for the duration of the
run, and every writer (jobs and orchestrator) goes through that server.
"""
from __future__ import annotations

import getpass
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..executors._base import die_with_parent
from ..study.configs import get_path, key_parts, patch_key_path, selected_value
from ..study.identity import git_state, package_versions
from ..study.plan import Plan, PlannedJob
from ..workspace import REPO_ROOT

#: Config keys logged as params of every job run when present (bounded; never the whole
#: flattened config). The keys a study's levels and profile touch are logged too.
PARAM_KEYS: tuple[str, ...] = (
    "model.type", "model.backbone.type", "model.backbone.depth", "model.backbone.arch",
    "model.neck.type", "model.neck.out_channels", "train_cfg.max_epochs",
    "train_cfg.max_iters", "optim_wrapper.optimizer.type", "optim_wrapper.optimizer.lr",
    "train_dataloader.batch_size")
MAX_PARAMS = 60
_PARAM_LEN = 500
_NAME_LEN = 250  # MLflow's limit on a param name
_NOT_IN_NAME = re.compile(r"[^\w\-. /]")
_VERSIONS = ("torch", "mmengine", "mmcv", "mmdet", "mlflow", "centermask-mm")


def job_params(plan: Plan, job: PlannedJob) -> dict[str, str]:
    """Axis levels, seed, and a bounded set of resolved config keys."""
    params = {f"level.{a}": lv for a, lv in job.levels.items()}
    params["seed"] = str(job.seed)
    keys = list(PARAM_KEYS) + [k for k, _, _ in job.diff] + [
        patch_key_path(k) for k in plan.profile.patch]
    for key in dict.fromkeys(keys):
        if len(params) >= MAX_PARAMS:
            break
        found, value = get_path(job.config, key)
        if found and not isinstance(value, Mapping):
            params[param_name(key)] = str(value)[:_PARAM_LEN]
    return params


def param_name(key: str) -> str:
    """An MLflow param name for a config key: a selector becomes the value it picks by
    (``pipeline[type=Resize].scale`` -> ``pipeline.Resize.scale``), since MLflow names allow
    only alphanumerics and ``_ - . / space``; anything else left becomes ``_``."""
    parts = [selected_value(p) or p for p in key_parts(key)]
    return _NOT_IN_NAME.sub("_", ".".join(parts))[:_NAME_LEN]


def _q(value: str) -> str:
    return "'" + value.replace("'", "\\'") + "'"


class Tracker:
    """The orchestrator's view of one MLflow tracking store.

    Args:
        uri: Tracking URI (``sqlite:///...``, ``http://...``, ``postgresql://...``).
        artifact_root: Where experiments created here keep artifacts (local stores);
            ``None`` lets the server decide.
    """

    def __init__(self, uri: str, artifact_root: Path | None = None) -> None:
        from mlflow.tracking import MlflowClient

        self.uri = uri
        self.artifact_root = artifact_root
        with store_lock(uri):
            # The client opens the store here: creates a fresh SQLite file's schema, or
            # migrates an old one. Two orchestrators doing it at once crash in alembic.
            self.client = MlflowClient(uri)
            self.client.search_experiments(max_results=1)

    def experiment_id(self, name: str) -> str:
        exp = self.client.get_experiment_by_name(name)
        if exp is not None:
            if exp.lifecycle_stage == "deleted":
                self.client.restore_experiment(exp.experiment_id)
            return exp.experiment_id
        location = (self.artifact_root / name).as_uri() if self.artifact_root else None
        try:
            return self.client.create_experiment(name, artifact_location=location)
        except Exception:  # noqa: BLE001 - another orchestrator created it meanwhile
            exp = self.client.get_experiment_by_name(name)
            if exp is None:
                raise
            return exp.experiment_id

    def _search(self, experiment_ids: list[str], filter_string: str) -> list[Any]:
        """Every run matching ``filter_string`` (MLflow's own paging)."""
        from mlflow.utils import get_results_from_paginated_fn

        return list(get_results_from_paginated_fn(
            lambda n, token: self.client.search_runs(experiment_ids, filter_string,
                                                     max_results=n, page_token=token), 1000))

    def _all_experiments(self) -> list[str]:
        return [e.experiment_id for e in self.client.search_experiments()]

    def finished_jobs(self, job_ids: Iterable[str] | None = None) -> dict[str, str]:
        """job hash -> run id of every succeeded job run in the store (all experiments)."""
        exps = self._all_experiments()
        if not exps:
            return {}
        runs = self._search(exps, "tags.`cm.role` = 'job' and tags.`cm.status` = 'succeeded'")
        wanted = set(job_ids) if job_ids is not None else None
        out: dict[str, str] = {}
        for run in runs:
            h = run.data.tags.get("cm.job_hash")
            if h and (wanted is None or h in wanted):
                out.setdefault(h, run.info.run_id)
        return out

    def study_run(self, plan: Plan, experiment_id: str, known: str | None) -> str:
        """The parent run of the study and profile (reused when it exists)."""
        if known:
            try:
                run = self.client.get_run(known)
                if run.info.lifecycle_stage == "active":
                    self.client.update_run(known, status="RUNNING")
                    return known
            except Exception:  # noqa: BLE001 - deleted or from another store
                pass
        runs = self._search([experiment_id], "tags.`cm.role` = 'study' and "
                            f"tags.`cm.profile` = {_q(plan.profile.name)}")
        if runs:
            self.client.update_run(runs[0].info.run_id, status="RUNNING")
            return runs[0].info.run_id
        commit, dirty = git_state(REPO_ROOT)
        tags = {"cm.role": "study", "cm.study": plan.study.name,
                "cm.table": _table_label(plan), "cm.profile": plan.profile.name,
                "cm.dataset": plan.dataset.tag, "cm.git_commit": commit,
                "cm.git_dirty": str(dirty).lower(), "cm.study_file": str(plan.study.path),
                "mlflow.runName": f"{plan.study.name} [{plan.profile.name}]"}
        run = self.client.create_run(experiment_id, tags=tags,
                                     run_name=tags["mlflow.runName"])
        self.client.log_param(run.info.run_id, "n_jobs", str(len(plan.jobs)))
        if plan.study.description:
            self.client.set_tag(run.info.run_id, "mlflow.note.content", plan.study.description)
        for key, value in source_tags(plan).items():
            self.client.set_tag(run.info.run_id, key, value)
        return run.info.run_id

    def describe_experiment(self, plan: Plan, experiment_id: str) -> None:
        """The experiment's description (the study's; MLflow shows it above the runs) and
        the classic ML view (MLflow 3 opens new experiments in its GenAI view)."""
        note = plan.study.description or f"Study {plan.study.name}"
        note += f"\n\nStudy file: `{_relative(plan.study.path)}`."
        tags = {"mlflow.note.content": note, "cm.study_file": str(plan.study.path),
                "mlflow.experimentKind": "custom_model_development"}
        for key, value in tags.items():
            self.client.set_experiment_tag(experiment_id, key, value)

    def job_run(self, plan: Plan, job: PlannedJob, experiment_id: str, parent_id: str) -> str:
        """The job's run: the existing one with its hash in the experiment, else a new one."""
        runs = self._search([experiment_id], "tags.`cm.role` = 'job' and "
                            f"tags.`cm.job_hash` = {_q(job.job_id)}")
        if runs:
            return runs[0].info.run_id
        commit, dirty = git_state(REPO_ROOT)
        tags = {"cm.role": "job", "cm.study": plan.study.name, "cm.table": _table_label(plan),
                "cm.job_hash": job.job_id, "cm.seed": str(job.seed),
                "cm.profile": plan.profile.name, "cm.dataset": plan.dataset.tag,
                "cm.git_commit": commit, "cm.git_dirty": str(dirty).lower(),
                "cm.config_family": job.family, "cm.config_hash": job.config_hash,
                "cm.code": job.code, "cm.status": "running", "mlflow.parentRunId": parent_id,
                "mlflow.runName": f"{job.name}"}
        tags.update({f"cm.level.{a}": lv for a, lv in job.levels.items()})
        tags.update({f"cm.version.{k}": v for k, v in package_versions(_VERSIONS).items()})
        tags.update({"cm.mode": job.mode, **job.tags})  # evaluate: the weights file, sha256
        tags.update(source_tags(plan))
        tags["mlflow.note.content"] = job_note(job)
        run = self.client.create_run(experiment_id, tags=tags, run_name=job.name)
        import mlflow.entities

        params = [mlflow.entities.Param(k, v) for k, v in job_params(plan, job).items()]
        self.client.log_batch(run.info.run_id, params=params)
        self.log_data_inputs(run.info.run_id, plan, job)
        return run.info.run_id

    def log_data_inputs(self, run_id: str, plan: Plan, job: PlannedJob) -> None:
        """The job's annotation files as MLflow dataset inputs (one per split).

        Each is a metadata-only dataset (``mlflow.data.meta_dataset.MetaDataset``) whose
        source is the annotation file and whose digest is its hash from the data manifest
        (the part of the job's identity that stands for its data); the split is the input's
        ``mlflow.data.context`` tag. A config that reads no data logs none.
        """
        from ..study.data import annotation_files

        hashes = (job.data_manifest or {}).get("annotations") or {}
        files = {s: p for s, p in annotation_files(job.config).items() if s in hashes}
        if not files:
            return
        import warnings

        from mlflow.data.dataset_source_registry import resolve_dataset_source
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.entities import DatasetInput, InputTag

        inputs = []
        for split, path in files.items():
            with warnings.catch_warnings():
                # MLflow registers its local source twice and warns that the path "can be
                # interpreted in multiple ways" (both are the local file source).
                warnings.simplefilter("ignore", UserWarning)
                source = resolve_dataset_source(str(path))
            # (MLflow's stubs mark ``profile`` abstract; MetaDataset has none and is meant
            # to be instantiated, see its docstring.)
            dataset = MetaDataset(source, name=f"{plan.dataset.tag} {split}",  # type: ignore[abstract]
                                  digest=str(hashes[split])[:16])
            inputs.append(DatasetInput(dataset._to_mlflow_entity(),
                                       tags=[InputTag("mlflow.data.context", split)]))
        self.client.log_inputs(run_id, datasets=inputs)

    def job_restarted(self, run_id: str, attempt: int) -> None:
        """A retried (or resumed) job logs into its run again: mark it running."""
        self.client.update_run(run_id, status="RUNNING")
        self.client.set_tag(run_id, "cm.status", "running")
        self.client.set_tag(run_id, "cm.attempts", str(attempt))

    def job_failed(self, run_id: str, error: str, log: Path | None, final: bool,
                   attempts: int, cancelled: bool = False) -> None:
        """Record a failed attempt; ``final`` ends the run as FAILED (or KILLED)."""
        self.client.set_tag(run_id, "cm.attempts", str(attempts))
        self.client.set_tag(run_id, "cm.error", error[-4000:])
        if log is not None and log.exists():
            self.client.log_artifact(run_id, str(log), artifact_path="logs")
        if final:
            self.client.set_tag(run_id, "cm.status", "cancelled" if cancelled else "failed")
            self.client.set_terminated(run_id, "KILLED" if cancelled else "FAILED")

    def finish_study(self, run_id: str, counts: Mapping[str, int]) -> None:
        import mlflow.entities

        now = int(time.time() * 1000)
        self.client.log_batch(run_id, metrics=[
            mlflow.entities.Metric(f"jobs_{k}", float(v), now, 0) for k, v in counts.items()])
        bad = counts.get("failed", 0) + counts.get("cancelled", 0)
        self.client.set_terminated(run_id, "FAILED" if bad else "FINISHED")


    # ------------------------------------------------------------------ idempotent closing

    def job_succeeded(self, run_id: str) -> None:
        """Mark a finished job's run succeeded and FINISHED (no-op when it already is)."""
        from ..job.worker import close_succeeded_run

        close_succeeded_run(self.client, run_id)

    def reconcile(self, experiment_id: str, states: Mapping[str, str]) -> list[str]:
        """Close the RUNNING job runs of jobs the queue has finished; returns their run ids.

        A kill between the queue's record and MLflow's leaves such runs; a rerun calls this
        so that every finished job has its run in a final state.

        Args:
            states: job hash -> queue state, for the jobs of the plan.
        """
        runs = self._search([experiment_id], "tags.`cm.role` = 'job' and "
                            "attributes.status = 'RUNNING'")
        closed = []
        for run in runs:
            state = states.get(run.data.tags.get("cm.job_hash", ""))
            if state == "succeeded":
                self.job_succeeded(run.info.run_id)
            elif state in ("failed", "cancelled"):
                self.client.set_tag(run.info.run_id, "cm.status", state)
                self.client.set_terminated(run.info.run_id,
                                           "KILLED" if state == "cancelled" else "FAILED")
            else:
                continue
            closed.append(run.info.run_id)
        return closed

    def close_study(self, run_id: str, counts: Mapping[str, int]) -> bool:
        """:meth:`finish_study` if the parent run is still RUNNING; whether it was."""
        try:
            run = self.client.get_run(run_id)
        except Exception:  # noqa: BLE001 - deleted, or from another store
            return False
        if run.info.status != "RUNNING":
            return False
        self.finish_study(run_id, counts)
        return True


@contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """An exclusive ``flock`` next to a local SQLite store (``<file>.lock``) while the block
    runs; nothing for other stores (a server or a database serialises its own schema)."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    import fcntl

    db = Path(uri[len("sqlite:///"):])
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _relative(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def source_tags(plan: Plan) -> dict[str, str]:
    """MLflow's source tags: the study file as the source, the git commit as its version,
    the user (the UI's Source, Version and User columns)."""
    commit, _ = git_state(REPO_ROOT)
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container)
        user = "unknown"
    return {"mlflow.source.type": "LOCAL", "mlflow.source.name": _relative(plan.study.path),
            "mlflow.source.git.commit": commit, "mlflow.user": user}


def job_note(job: PlannedJob) -> str:
    """The job run's description: its levels and what they change in the config."""
    levels = ", ".join(f"{a} = {lv}" for a, lv in job.levels.items()) or "(the base config)"
    lines = [f"**{job.name}** (job `{job.job_id}`)", "", f"Levels: {levels}; seed {job.seed}."]
    if job.diff:
        lines += ["", "Changed config keys:", ""]
        lines += [f"- `{k}`: `{str(a)[:80]}` → `{str(b)[:80]}`" for k, a, b in job.diff]
    return "\n".join(lines)


def _table_label(plan: Plan) -> str:
    table = plan.study.table or {}
    return str(table.get("label") or table.get("title") or "")


# --------------------------------------------------------------------------- loopback server

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LoopbackServer:
    """MLflow's tracking server on 127.0.0.1 over a SQLite store, for the duration of a run.

    The server is uvicorn serving ``mlflow.server.fastapi_app:app`` as a *direct* child
    process (``mlflow server`` would put uvicorn one process further away), so it dies with
    the orchestrator even on SIGKILL and never outlives it holding the SQLite file.

    Args:
        backend_uri: The ``sqlite:///`` store to serve (created beforehand by the caller,
            so the server does not race anyone on the schema migration).
        artifact_root: Default artifact root for experiments created through the server.
        log: File for the server's output.
    """

    def __init__(self, backend_uri: str, artifact_root: Path, log: Path) -> None:
        self.backend_uri = backend_uri
        self.artifact_root = artifact_root
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, timeout_s: float = 120.0) -> str:
        from mlflow.server.constants import (
            ARTIFACT_ROOT_ENV_VAR,
            BACKEND_STORE_URI_ENV_VAR,
            REGISTRY_STORE_URI_ENV_VAR,
        )

        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {**os.environ, BACKEND_STORE_URI_ENV_VAR: self.backend_uri,
               REGISTRY_STORE_URI_ENV_VAR: self.backend_uri,
               ARTIFACT_ROOT_ENV_VAR: self.artifact_root.as_uri()}
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "mlflow.server.fastapi_app:app", "--host",
                 "127.0.0.1", "--port", str(port), "--workers", "1", "--log-level", "warning"],
                env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent)
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"MLflow server exited ({self.proc.returncode}); "
                                   f"see {self.log}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        return self.url
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"MLflow server did not answer within {timeout_s:.0f} s; "
                           f"see {self.log}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
