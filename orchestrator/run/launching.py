"""What ``orchestrator run`` sets up before its scheduler starts, for ablation and search.

An executor from the command line with the number of jobs it can hold at once, and the
MLflow URI the jobs log to: a local SQLite store is served over loopback when more than
one job writes at a time (several writers on one SQLite file would fight over its lock).
"""
from __future__ import annotations

import argparse
import os
import signal
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..workspace import REPO_ROOT, Workspace

if TYPE_CHECKING:
    from ..executors import Executor, Launch
    from ..study.reader import Resources
    from .tracking import LoopbackServer


def parent_meta_key(study: str, profile: str) -> str:
    """Queue meta key of the study's parent MLflow run id under ``profile`` (a rerun logs
    into the same parent run; ``<key>:closed`` is ``"1"`` once it was ended)."""
    return f"parent:{study}:{profile}"


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Meanwhile, SIGTERM raises ``KeyboardInterrupt``: a terminated run cleans up (stops
    its jobs, leaves the queue resumable) as on Ctrl-C."""
    def _term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def probe_launch(resources: Resources) -> Launch:
    """A launch with a profile's resources (to ask an executor about room and limits)."""
    from ..executors import Launch

    return Launch("?", [], Path(os.devnull), REPO_ROOT, gpus=resources.gpus_per_job,
                  cpus=resources.cpus_per_job, procs=resources.procs_per_job,
                  nodes=resources.nodes_per_job)


def executor_options(args: argparse.Namespace,
                     study_options: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Keyword options of ``--executor``: the study's ``executor.<name>`` section, then the
    command line (``--parallel``, ``--ray-address``, ``--slurm-*``, ``--sbatch``) over it."""
    kwargs: dict[str, Any] = {"parallel": args.parallel}
    if args.executor == "ray":
        kwargs["address"] = args.ray_address
    if args.executor == "slurm":
        kwargs.update(study_options.get("slurm") or {})
        for key in ("partition", "account", "qos", "time", "mem", "constraint"):
            if getattr(args, f"slurm_{key}", None):
                kwargs[key] = getattr(args, f"slurm_{key}")
        if getattr(args, "sbatch", None):
            kwargs["sbatch"] = [*kwargs.get("sbatch", []), *args.sbatch]
    return kwargs


def open_executor(args: argparse.Namespace, resources: Resources,
                  study_options: Mapping[str, Mapping[str, Any]] | None = None
                  ) -> tuple[Executor, int]:
    """The executor named by ``--executor`` (options: :func:`executor_options`) and how many
    jobs of ``resources`` it runs at once."""
    from ..executors import make_executor

    executor = make_executor(args.executor, **executor_options(args, study_options or {}))
    return executor, executor.slots(probe_launch(resources))


@dataclass
class Store:
    """Where jobs log: ``worker_uri`` (the loopback server's URL while ``server`` runs)."""

    worker_uri: str
    server: LoopbackServer | None = None
    setup_s: float = 0.0

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


def serve_store(uri: str, ws: Workspace, writers: int) -> Store:
    """Serve a local ``sqlite:///`` store over loopback when ``writers`` > 1; else use it."""
    if not uri.startswith("sqlite:///") or writers <= 1:
        return Store(uri)
    from .tracking import LoopbackServer

    t0 = time.perf_counter()
    server = LoopbackServer(uri, ws.artifacts, ws.root / "server" / "mlflow.log")
    url = server.start()
    return Store(url, server, time.perf_counter() - t0)
