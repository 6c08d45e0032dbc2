"""What ``orchestrator run`` sets up before its scheduler starts, for ablation and search.

An executor from the command line with the number of jobs it can hold at once, and the
MLflow URI the jobs log to: a local SQLite store is served over loopback when more than
one job writes at a time (several writers on one SQLite file would fight over its lock).
"""
from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..workspace import REPO_ROOT, Workspace

if TYPE_CHECKING:
    from ..executors import Executor
    from ..study.reader import Resources
    from .tracking import LoopbackServer


def open_executor(args: argparse.Namespace, resources: Resources) -> tuple[Executor, int]:
    """The executor named by ``--executor`` (``--parallel``, ``--ray-address``) and how many
    jobs of ``resources`` it runs at once."""
    from ..executors import Launch, make_executor

    kwargs: dict[str, object] = {"parallel": args.parallel}
    if args.executor == "ray":
        kwargs["address"] = args.ray_address
    executor = make_executor(args.executor, **kwargs)
    probe = Launch("?", [], Path(os.devnull), REPO_ROOT, gpus=resources.gpus_per_job,
                   cpus=resources.cpus_per_job)
    return executor, executor.slots(probe)


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
