"""Load a study's job runs from MLflow into a tidy DataFrame (docs/contracts.md §1).

Runs are read only through MLflow's search API; one DataFrame row per run.
"""
from __future__ import annotations

import os
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from .spec import METRIC_PREFIX

TAG = "cm."
ROLE_JOB = "job"

#: Tidy columns always present (metrics and ``level.<axis>`` columns come after them).
BASE_COLUMNS = ["run_id", "experiment_id", "run_name", "study", "table", "job_hash", "seed",
                "profile", "dataset", "git_commit", "git_dirty", "config_family", "hardware",
                "time_hardware", "time_contended", "status", "mlflow_status", "start_time",
                "end_time", "levels"]

_TAG_COLUMNS = {"study": "study", "table": "table", "job_hash": "job_hash",
                "profile": "profile", "dataset": "dataset", "git_commit": "git_commit",
                "config_family": "config_family", "hardware": "hardware",
                "time_hardware": "time_hardware", "time_contended": "time_contended"}
_MLFLOW_STATUS = {"FINISHED": "succeeded", "FAILED": "failed", "KILLED": "failed",
                  "RUNNING": "running", "SCHEDULED": "running"}


def repo_root() -> Path:
    """The repository root (the folder holding ``pyproject.toml`` above this package)."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").exists() else Path.cwd()


def default_tracking_uri(workspace: str | Path | None = None) -> str:
    """``$MLFLOW_TRACKING_URI`` if set, else ``sqlite:///<workspace>/mlflow.db``.

    Args:
        workspace: defaults to ``$CM_WORKSPACE``, else ``.workspace/`` in the repository
            root (the orchestrator's convention, docs/contracts.md §1).
    """
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{workspace_dir(workspace) / 'mlflow.db'}"


def workspace_dir(workspace: str | Path | None = None) -> Path:
    """The workspace folder: ``workspace``, else ``$CM_WORKSPACE``, else ``.workspace/``."""
    ws = workspace or os.environ.get("CM_WORKSPACE") or repo_root() / ".workspace"
    return Path(ws).expanduser().resolve()


def check_store(uri: str) -> str:
    """``uri`` itself; raises if it names a SQLite file that does not exist.

    Reading must not create an empty store as a side effect (MLflow would).

    Raises:
        FileNotFoundError: naming the URI.
    """
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).exists():
        raise FileNotFoundError(f"no MLflow store at {uri} (run the study first, or give "
                                "--tracking-uri / --workspace)")
    return uri


def _quote(value: str) -> str:
    if "'" in value:
        raise ValueError(f"cannot search MLflow for a value containing a quote: {value!r}")
    return f"'{value}'"


def _search(client: Any, experiment_ids: list[str], filter_string: str) -> list[Any]:
    """Every run matching ``filter_string`` (MLflow's own paging)."""
    from mlflow.utils import get_results_from_paginated_fn

    return list(get_results_from_paginated_fn(
        lambda n, token: client.search_runs(experiment_ids, filter_string=filter_string,
                                            max_results=n, page_token=token), 1000))


def _experiment_ids(client: Any) -> list[str]:
    from mlflow.utils import get_results_from_paginated_fn

    return [e.experiment_id for e in get_results_from_paginated_fn(
        lambda n, token: client.search_experiments(max_results=n, page_token=token), 1000)]


def _record(run: Any) -> dict[str, Any]:
    tags: dict[str, str] = run.data.tags
    rec: dict[str, Any] = {
        "run_id": run.info.run_id,
        "experiment_id": run.info.experiment_id,
        "run_name": run.info.run_name,
    }
    for col, tag in _TAG_COLUMNS.items():
        rec[col] = tags.get(TAG + tag)
    seed = tags.get(TAG + "seed")
    try:
        rec["seed"] = int(seed) if seed is not None else None
    except ValueError:
        raise ValueError(f"MLflow run {run.info.run_id}: tag cm.seed={seed!r} is not an "
                         "integer") from None
    dirty = tags.get(TAG + "git_dirty")
    rec["git_dirty"] = None if dirty is None else dirty.lower() == "true"
    rec["mlflow_status"] = run.info.status
    rec["status"] = tags.get(TAG + "status") or _MLFLOW_STATUS.get(run.info.status, "unknown")
    rec["start_time"] = pd.to_datetime(run.info.start_time, unit="ms", utc=True) \
        if run.info.start_time else pd.NaT
    rec["end_time"] = pd.to_datetime(run.info.end_time, unit="ms", utc=True) \
        if run.info.end_time else pd.NaT
    levels = {k[len(TAG + "level."):]: v for k, v in tags.items()
              if k.startswith(TAG + "level.")}
    rec["levels"] = levels
    for axis, level in levels.items():
        rec[f"level.{axis}"] = level
    for key, value in run.data.metrics.items():
        name = key[len(METRIC_PREFIX):] if key.startswith(METRIC_PREFIX) else key
        if key.startswith(METRIC_PREFIX) or "/" not in key:
            rec[name] = float(value)
    return rec


def runs_frame(runs: Iterable[Any]) -> pd.DataFrame:
    """Tidy DataFrame of MLflow ``Run`` objects (one row per run, deduplicated by id).

    Columns: :data:`BASE_COLUMNS`, then ``level.<axis>`` for every axis seen, then metrics:
    final test metrics without their ``test/coco/`` prefix (``segm_mAP``, ... as fractions)
    and other un-prefixed metrics (``params_m``, ``time_ms``). Per-epoch ``coco/...`` and
    loss metrics are left out.
    """
    records: dict[str, dict[str, Any]] = {}
    for run in runs:
        records.setdefault(run.info.run_id, _record(run))
    df = pd.DataFrame(list(records.values()))
    if df.empty:
        return pd.DataFrame(columns=BASE_COLUMNS)
    level_cols = sorted(c for c in df.columns if c.startswith("level."))
    metric_cols = sorted(c for c in df.columns if c not in BASE_COLUMNS and c not in level_cols)
    df = df[BASE_COLUMNS + level_cols + metric_cols]
    df["seed"] = df["seed"].astype("Int64")
    return df.sort_values(["study", "start_time", "run_id"], na_position="last",
                          kind="stable").reset_index(drop=True)


def load_runs(tracking_uri: str | None = None, *, study: str | None = None,
              job_hashes: Collection[str] | None = None,
              experiment_ids: Collection[str] | None = None) -> pd.DataFrame:
    """Job runs (``cm.role=job``) of a study and/or with given job hashes.

    Args:
        tracking_uri: MLflow tracking URI; :func:`default_tracking_uri` when ``None``.
        study: runs tagged ``cm.study=<study>``.
        job_hashes: also the runs whose ``cm.job_hash`` is one of these, in any experiment
            (a job deduplicated across studies lives in the experiment that ran it first).
        experiment_ids: restrict the search (all experiments by default).

    Returns:
        The union of both selections as a tidy DataFrame (see :func:`runs_frame`).

    Raises:
        FileNotFoundError: a ``sqlite:///`` store that does not exist.
    """
    from mlflow.tracking import MlflowClient

    if study is None and not job_hashes:
        raise ValueError("load_runs: give a study name and/or job hashes")
    uri = check_store(tracking_uri or default_tracking_uri())
    client = MlflowClient(tracking_uri=uri)
    ids = list(experiment_ids) if experiment_ids is not None else _experiment_ids(client)
    if not ids:
        return runs_frame([])
    role = f"tags.`{TAG}role` = {_quote(ROLE_JOB)}"
    found: list[Any] = []
    if study is not None:
        found += _search(client, ids, f"{role} and tags.`{TAG}study` = {_quote(study)}")
    if job_hashes:
        wanted = set(job_hashes)
        # MLflow's search grammar has no OR; one query for all job runs, filtered here.
        found += [r for r in _search(client, ids, role)
                  if r.data.tags.get(TAG + "job_hash") in wanted]
    return runs_frame(found)
