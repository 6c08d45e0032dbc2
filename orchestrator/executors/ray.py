"""Ray executor: each job is a Ray task with ``num_gpus``/``num_cpus`` running the job process.

Ray schedules the tasks on the cluster (``address="auto"`` or ``ray://...``) or on a local
Ray started for the orchestrator, and sets ``CUDA_VISIBLE_DEVICES`` for each task (fractional
``num_gpus`` packs jobs on a GPU). The task starts the same job process the local executor
would, so the queue, MLflow and resume semantics do not change. Work dirs and logs must be
on a file system every node sees.

A data-parallel job is one Ray task holding all its resources (``num_cpus`` = threads x
processes, ``num_gpus`` = the job's GPUs) that runs the ranks under torchrun on that task's
node; a job spread over several nodes (``nodes_per_job > 1``) is refused at plan time (use
the Slurm executor for multi-node jobs).
"""
from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._base import Launch, Outcome, TrackingExecutor, die_with_parent, job_env, ranks, torchrun_argv


def _run_process(argv: Sequence[str], env: Mapping[str, str], log: str, cwd: str,
                 nprocs: int) -> tuple[int, str]:
    """Body of the Ray task: run the job process (``nprocs`` ranks under torchrun), return
    (exit status, device)."""
    # The task's own environment carries Ray's CUDA_VISIBLE_DEVICES; keep it.
    full = {**os.environ, **env}
    if nprocs > 1:
        full["CM_LAUNCHER"] = "pytorch"
        argv = torchrun_argv(argv, nprocs)
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as f:
        proc = subprocess.Popen(list(argv), cwd=cwd, env=full, stdout=f,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                preexec_fn=die_with_parent)
        rc = proc.wait()
    gpus = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    import socket

    return rc, f"ray:{socket.gethostname()}" + (f":cuda:{gpus}" if gpus else "")


@dataclass
class _Task:
    ref: Any
    launch: Launch
    cancelled: bool = False


class RayExecutor(TrackingExecutor[_Task]):
    """Jobs as Ray tasks.

    Args:
        address: Ray cluster address; ``None`` starts a local Ray (tests, one box).
        parallel: Most jobs in flight (default: what the cluster's CPUs/GPUs allow).
        num_cpus: CPUs of the local Ray (``address=None`` only).
    """

    name = "ray"

    def __init__(self, address: str | None = None, parallel: int | None = None,
                 num_cpus: int | None = None) -> None:
        import ray

        super().__init__()
        self._ray = ray
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            kwargs: dict[str, Any] = dict(address=address, include_dashboard=False,
                                          log_to_driver=False, configure_logging=False)
            if address is None and num_cpus is not None:
                kwargs["num_cpus"] = num_cpus
            ray.init(**kwargs)
        self._remote = ray.remote(max_retries=0)(_run_process)
        self._resources = ray.cluster_resources()  # the loop asks often; nodes rarely change
        self.parallel = parallel

    def _gpus(self, launch: Launch) -> float:
        # A CPU-only cluster runs GPU-sized jobs on CPUs rather than never scheduling them.
        return launch.gpus if self._resources.get("GPU", 0) > 0 else 0.0

    def slots(self, launch: Launch) -> int:
        res = self._resources
        gpus = self._gpus(launch)
        if gpus > 0:
            n = max(1, int(res.get("GPU", 0) / gpus + 1e-9))
        else:
            n = max(1, int(res.get("CPU", 1) // (max(1, launch.cpus) * ranks(launch, False))))
        return min(n, self.parallel) if self.parallel is not None else n

    def submit(self, launch: Launch) -> None:
        if not self.can_start(launch):
            raise RuntimeError(f"no free slot for job {launch.job_id}")
        env = {k: v for k, v in job_env(launch, base={}).items()}
        gpus = self._gpus(launch)
        n = ranks(launch, has_gpus=gpus > 0)
        ref = self._remote.options(num_cpus=launch.cpus * n, num_gpus=gpus).remote(
            list(launch.argv), env, str(launch.log), str(launch.cwd), n)
        self._jobs[launch.job_id] = _Task(ref, launch)

    def poll(self) -> list[Outcome]:
        if not self._jobs:
            return []
        refs = [t.ref for t in self._jobs.values()]
        ready, _ = self._ray.wait(refs, num_returns=len(refs), timeout=0)
        ready_set = set(ready)
        out = []
        for job_id, task in list(self._jobs.items()):
            if task.ref not in ready_set:
                continue
            del self._jobs[job_id]
            try:
                rc, device = self._ray.get(task.ref)
            except Exception:  # noqa: BLE001 - task killed (cancel) or its node died
                rc, device = -9, "ray"
            out.append(Outcome(job_id, rc, task.cancelled, device))
        return out

    def _stop(self, job: _Task) -> None:
        # force=True kills the task's worker process; the job process dies with it.
        self._ray.cancel(job.ref, force=True)

    def describe(self) -> str:
        res = self._resources
        return (f"ray executor: {int(res.get('CPU', 0))} CPUs, {res.get('GPU', 0):g} GPUs"
                + (f", {self.parallel} at once" if self.parallel else ""))

    def shutdown(self) -> None:
        super().shutdown()
        # Wait for cancelled tasks so their processes are gone before we return.
        if self._jobs:
            self._ray.wait([t.ref for t in self._jobs.values()],
                           num_returns=len(self._jobs), timeout=10)
        self._jobs.clear()
        if self._owns_ray:
            self._ray.shutdown()
