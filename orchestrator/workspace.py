"""Where things live: the repository root and the workspace layout.

Workspace (default ``<repo>/.workspace``, or ``--workspace`` / ``$CM_WORKSPACE``)::

    queue.db               the job queue (SQLite, WAL)
    mlflow.db              the default MLflow tracking store
    mlartifacts/           MLflow artifacts of the default store
    data/toy/              the generated toy data set (data: auto without COCO)
    jobs/<job_id>/         one work dir per job: job.json, config.py, worker.log,
                           progress.json, result.json, checkpoints, mmengine logs
    cache/                 build and file-hash caches of the planner
    server/                log of the loopback MLflow server
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def find_study(name: str | Path) -> Path:
    """The study file ``name`` means (the one lookup of the orchestrator and ``analysis``):
    ``name`` as given, else under ``<repo>/experiments/``, ``<repo>/experiments/studies/``
    or the repo root; each also with ``.yaml`` appended when ``name`` has no suffix
    (``table1`` -> ``experiments/studies/table1.yaml``). Not found: ``name`` as given, which
    the study reader reports as unreadable."""
    path = Path(name)
    names = [path] if path.suffix else [path, Path(f"{path}.yaml")]
    for p in names:
        for candidate in (p, REPO_ROOT / "experiments" / p,
                          REPO_ROOT / "experiments" / "studies" / p, REPO_ROOT / p):
            if candidate.is_file():
                return candidate
    return path


@dataclass(frozen=True)
class Workspace:
    """Paths inside one workspace directory."""

    root: Path

    @classmethod
    def at(cls, root: str | Path | None = None) -> Workspace:
        root = root or os.environ.get("CM_WORKSPACE") or REPO_ROOT / ".workspace"
        path = Path(root).expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        return cls(path)

    @property
    def queue_path(self) -> Path:
        return self.root / "queue.db"

    @property
    def mlflow_db(self) -> Path:
        return self.root / "mlflow.db"

    @property
    def default_tracking_uri(self) -> str:
        return f"sqlite:///{self.mlflow_db}"

    @property
    def artifacts(self) -> Path:
        return self.root / "mlartifacts"

    def job_dir(self, job_id: str) -> Path:
        return self.root / "jobs" / job_id

    def tracking_uri(self, override: str | None = None) -> str:
        """``--tracking-uri``, else ``$MLFLOW_TRACKING_URI``, else the workspace's SQLite."""
        return override or os.environ.get("MLFLOW_TRACKING_URI") or self.default_tracking_uri
