"""Local executor: job processes on this machine, one GPU slot or a CPU share each.

GPUs are detected from ``CUDA_VISIBLE_DEVICES`` or ``nvidia-smi``. A job needing
``gpus <= 1`` takes a share of one GPU (fractions pack several jobs on a GPU; one GPU is
filled before the next is used), a job needing ``n > 1`` GPUs takes ``n`` whole ones; each
process sees only its GPUs through ``CUDA_VISIBLE_DEVICES``. Without GPUs, jobs run on the
CPU, ``parallel`` at a time (default: cores // (cpus x processes) per job).

A data-parallel job (``n > 1`` GPUs, or ``procs > 1`` on the CPU) runs under torchrun as
that many local ranks (``CM_LAUNCHER=pytorch``: mmengine's ``pytorch`` launcher); cancel
kills torchrun's process group, ranks included.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from ._base import Launch, Outcome, TrackingExecutor, die_with_parent, job_env, ranks, torchrun_argv

_EPS = 1e-9


def detect_gpus() -> list[int]:
    """Indices of the visible GPUs (empty on a CPU machine)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [int(x) for x in visible.split(",") if x.strip().isdigit()]
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run([smi, "--query-gpu=index", "--format=csv,noheader"], check=True,
                             capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [int(x) for x in out.split() if x.isdigit()]


@dataclass
class _Running:
    proc: subprocess.Popen[bytes]
    launch: Launch
    gpus: dict[int, float]
    cancelled: bool = False


class LocalExecutor(TrackingExecutor[_Running]):
    """Job processes on this machine.

    Args:
        parallel: Most jobs at once (default: one per GPU share, or cores // cpus per job).
        gpus: GPU indices to use (default: detected). ``[]`` forces CPU jobs.
    """

    name = "local"

    def __init__(self, parallel: int | None = None, gpus: Sequence[int] | None = None) -> None:
        super().__init__()
        self.gpus = list(detect_gpus() if gpus is None else gpus)
        self.parallel = parallel
        self._free = {g: 1.0 for g in self.gpus}

    def slots(self, launch: Launch) -> int:
        if self.gpus and launch.gpus > 0:
            per_gpu = int(1 / launch.gpus + _EPS) if launch.gpus <= 1 else 0
            n = per_gpu * len(self.gpus) if per_gpu else len(self.gpus) // int(launch.gpus)
            return min(n, self.parallel) if self.parallel is not None else n
        # CPU jobs: an explicit --parallel wins (oversubscribing is the user's call).
        per_job = max(1, launch.cpus) * ranks(launch, has_gpus=False)
        return self.parallel or max(1, (os.cpu_count() or 1) // per_job)

    def _pick(self, need: float) -> dict[int, float] | None:
        """GPUs (index -> share) for a job needing ``need`` GPUs, or ``None``."""
        if not self.gpus or need <= 0:
            return {}
        if need <= 1:
            # Best fit: the busiest GPU that still has room, so one fills before the next.
            fits = [g for g in self.gpus if self._free[g] + _EPS >= need]
            return {min(fits, key=lambda g: (self._free[g], g)): need} if fits else None
        whole = [g for g in self.gpus if self._free[g] >= 1 - _EPS]
        n = int(need)
        return {g: 1.0 for g in whole[:n]} if len(whole) >= n else None

    def can_start(self, launch: Launch) -> bool:
        if self.gpus and launch.gpus > len(self.gpus):
            raise RuntimeError(f"job {launch.job_id} needs {launch.gpus} GPUs; this machine "
                               f"has {len(self.gpus)}")
        return super().can_start(launch) and self._pick(launch.gpus) is not None

    def submit(self, launch: Launch) -> None:
        if not self.can_start(launch):
            raise RuntimeError(f"no free slot for job {launch.job_id}")
        gpus = self._pick(launch.gpus) or {}
        env = job_env(launch)
        # CPU jobs see no GPU at all; GPU jobs see exactly theirs.
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in gpus)
        n = ranks(launch, has_gpus=bool(gpus))
        if n > 1:
            env["CM_LAUNCHER"] = "pytorch"
        launch.log.parent.mkdir(parents=True, exist_ok=True)
        with open(launch.log, "ab") as log:
            proc = subprocess.Popen(torchrun_argv(launch.argv, n), cwd=launch.cwd, env=env,
                                    stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
        for g, share in gpus.items():
            self._free[g] -= share
        self._jobs[launch.job_id] = _Running(proc, launch, gpus)

    def poll(self) -> list[Outcome]:
        out = []
        for job_id, run in list(self._jobs.items()):
            rc = run.proc.poll()
            if rc is None:
                continue
            for g, share in run.gpus.items():
                self._free[g] += share
            del self._jobs[job_id]
            device = "cuda:" + ",".join(map(str, run.gpus)) if run.gpus else "cpu"
            out.append(Outcome(job_id, rc, run.cancelled, device))
        return out

    def _ended(self, job: _Running) -> bool:
        return job.proc.poll() is not None

    def _stop(self, job: _Running) -> None:
        try:
            os.killpg(job.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        job.proc.wait()

    def describe(self) -> str:
        if self.gpus:
            cap = f"{self.parallel} at once" if self.parallel else "packed by gpus_per_job"
            return f"local executor: GPUs {self.gpus}, {cap}"
        par = self.parallel or "cores // cpus_per_job"
        return f"local executor: no GPU, CPU jobs, {par} at once ({os.cpu_count()} cores)"
