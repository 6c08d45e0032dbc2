"""Data-parallel set-up of a job process (one process per rank).

The executor starts the ranks and says how through ``CM_LAUNCHER``:

* ``pytorch``: torchrun (local and Ray executors) set ``RANK``, ``LOCAL_RANK``,
  ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``;
* ``slurm``: ``srun`` set ``SLURM_PROCID``, ``SLURM_NTASKS``, ``SLURM_LOCALID`` and
  ``SLURM_NODELIST``; the Slurm executor set ``MASTER_PORT``. They are translated into the
  torchrun variables (the master is the job's first node).

:func:`init` then initialises ``torch.distributed`` itself, before mmengine's Runner is
built: mmengine skips its own ``init_dist`` when a process group exists, and its
``pytorch``/``slurm`` launchers call ``torch.cuda.set_device`` unconditionally, which fails
on a CPU build of torch. NCCL with one GPU per rank (``LOCAL_RANK``) where CUDA exists,
gloo on CPUs. :func:`configure` makes the config match (``launcher='pytorch'``, the
backend, no ``device_ids`` for a CPU model in DDP).

Under torchrun each rank also asks the kernel for SIGKILL when its parent (torchrun) dies:
torchrun killed with the orchestrator (the local executor's ``die_with_parent``) must not
leave ranks training unsupervised. Under srun, ``--kill-on-bad-exit`` and slurmstepd do
that job.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Dist:
    """This process's place in the job: rank, number of ranks, local rank, backend."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        """Rank 0: the only rank that logs to MLflow, writes results and checkpoints."""
        return self.rank == 0


def _first_host(nodelist: str) -> str:
    """First host of a Slurm node list (``node[1-4]`` -> ``node1``), via scontrol."""
    try:
        out = subprocess.run(["scontrol", "show", "hostnames", nodelist], check=True,
                             capture_output=True, text=True, timeout=30).stdout.split()
        if out:
            return out[0]
    except (OSError, subprocess.SubprocessError):
        pass
    return nodelist.split(",")[0].split("[")[0]


def translate_slurm_env(env: MutableMapping[str, str]) -> None:
    """Set the torchrun variables from srun's (``CM_LAUNCHER=slurm``)."""
    env["RANK"] = env["SLURM_PROCID"]
    env["WORLD_SIZE"] = env["SLURM_NTASKS"]
    env["LOCAL_RANK"] = env.get("SLURM_LOCALID", "0")
    env.setdefault("MASTER_ADDR", _first_host(env.get("SLURM_JOB_NODELIST")
                                              or env["SLURM_NODELIST"]))
    env.setdefault("MASTER_PORT", "29500")


def die_with_parent() -> None:
    """SIGKILL this process when its parent (torchrun) dies (Linux)."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except OSError:  # pragma: no cover - no glibc
            pass


def init(env: MutableMapping[str, str] | None = None) -> Dist:
    """Join the job's process group when the executor started several ranks.

    Returns:
        ``Dist()`` (rank 0 of 1, no process group) for a single-process job.
    """
    env = os.environ if env is None else env
    launcher = env.get("CM_LAUNCHER")
    if not launcher:
        return Dist()
    if launcher == "slurm":
        translate_slurm_env(env)
    elif launcher == "pytorch":
        die_with_parent()
    else:
        raise ValueError(f"CM_LAUNCHER={launcher!r}: expected 'pytorch' or 'slurm'")
    world = int(env["WORLD_SIZE"])
    rank, local_rank = int(env["RANK"]), int(env["LOCAL_RANK"])
    if world <= 1:
        return Dist()
    import torch
    import torch.distributed as dist

    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return Dist(rank, world, local_rank, backend)


def configure(cfg: Any, d: Dist) -> None:
    """Make an mmengine config run data-parallel as ``d`` says (no-op for one process)."""
    if d.world_size <= 1:
        return
    cfg.launcher = "pytorch"
    env_cfg = dict(cfg.get("env_cfg") or {})
    env_cfg["dist_cfg"] = {**dict(env_cfg.get("dist_cfg") or {}), "backend": d.backend}
    cfg.env_cfg = env_cfg
    if d.backend == "gloo":
        # mmengine passes device_ids=[LOCAL_RANK] to DDP unless the config says otherwise;
        # torch refuses device_ids for a CPU module.
        wrapper = dict(cfg.get("model_wrapper_cfg") or {"type": "MMDistributedDataParallel"})
        wrapper["device_ids"] = None
        cfg.model_wrapper_cfg = wrapper


def join(job: dict[str, Any]) -> tuple[dict[str, Any], Dist]:
    """:func:`init`, and the job dict this rank's runner gets.

    Every rank gets ``rank``, ``world_size``, ``local_rank`` and ``backend``; ranks other
    than 0 lose ``run_id``/``tracking_uri`` (no MLflow) and ``latency_images`` (no timing).
    """
    d = init()
    if not d.is_main:
        job = {**job, "run_id": None, "tracking_uri": None, "latency_images": 0}
    return {**job, "rank": d.rank, "world_size": d.world_size, "local_rank": d.local_rank,
            "backend": d.backend}, d


def leave(d: Dist) -> bool:
    """Leave the process group after the runner; ``True`` for ranks other than 0, whose
    job ends there (rank 0 alone writes metrics, ``result.json`` and ends the MLflow run)."""
    finish(d)
    return not d.is_main


def finish(d: Dist) -> None:
    """Leave the process group (quietly: a rank may return before the others)."""
    if d.world_size <= 1:
        return
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def batch_record(cfg: Any, d: Dist) -> dict[str, str]:
    """What the job's MLflow run records about its batch (as strings).

    ``cm.world_size`` (ranks actually running), ``cm.images_per_gpu``,
    ``cm.accumulative_counts``, ``cm.effective_batch`` (images per update), ``cm.batch_rule``
    (``linear_lr`` | ``accumulate`` | ``none``), ``cm.lr_scale`` when ``auto_scale_lr`` is on,
    and the paper's batch when the profile declared one (``cm_batch``, written by the
    planner: :mod:`orchestrator.study.batch`).
    """
    per_gpu = int(cfg.train_dataloader.batch_size)
    accum = int((cfg.get("optim_wrapper") or {}).get("accumulative_counts", 1) or 1)
    planned = dict(cfg.get("cm_batch") or {})
    out = {"cm.world_size": d.world_size, "cm.images_per_gpu": per_gpu,
           "cm.accumulative_counts": accum, "cm.effective_batch": d.world_size * per_gpu * accum,
           "cm.batch_rule": planned.get("rule", "none")}
    auto = cfg.get("auto_scale_lr") or {}
    if auto.get("enable") and auto.get("base_batch_size"):
        out["cm.lr_scale"] = d.world_size * per_gpu / float(auto["base_batch_size"])
    if planned:
        out["cm.paper_batch"] = planned.get("paper_batch")
        out["cm.paper_world_size"] = planned.get("paper_world_size")
    return {k: str(v) for k, v in out.items()}


def log_batch(client: Any, run_id: str, cfg: Any, d: Dist) -> None:
    """Log :func:`batch_record` as params (and tags, which a retry may update)."""
    import mlflow.entities
    from mlflow.exceptions import MlflowException

    record = batch_record(cfg, d)
    planned = (cfg.get("cm_batch") or {}).get("world_size")
    if planned is not None and int(planned) != d.world_size:
        # The job id includes the planned world size: running it with another is a bug or
        # a hand-edited resource; say so loudly rather than mixing recipes silently.
        print(f"WARNING: planned for world size {planned}, running with {d.world_size}",
              flush=True)
        record["cm.batch_mismatch"] = f"planned {planned}, ran {d.world_size}"
    tags = [mlflow.entities.RunTag(k, v) for k, v in record.items()]
    client.log_batch(run_id, tags=tags)
    try:
        client.log_batch(run_id, params=[mlflow.entities.Param(k, v)
                                         for k, v in record.items()])
    except MlflowException:
        pass  # an earlier attempt logged other values (params are immutable); tags hold these


def unwrap(model: Any) -> Any:
    """The model inside a DDP wrapper (``runner.model``), for parameter counts and timing."""
    return getattr(model, "module", model)
