"""The executor interface: run job processes somewhere, report how they ended.

An executor knows nothing about queues, studies or MLflow. The scheduler hands it a
:class:`Launch` (a command line, extra environment, a log file and the resources the job
needs) and polls for :class:`Outcome` s.

Contract (``tests/test_orchestrator/test_executor_contract.py`` checks every executor):

* :meth:`Executor.can_start` says whether a launch fits the free resources now;
  :meth:`Executor.submit` of a launch that does not fit raises ``RuntimeError``.
* A submitted job runs as its own OS process with ``launch.env`` added to the environment,
  ``OMP_NUM_THREADS`` set to ``launch.cpus``, its stdout and stderr appended to
  ``launch.log``. A crash of the job never raises in the executor: it is an outcome
  with a non-zero return code.
* :meth:`Executor.poll` returns each finished job exactly once and frees its resources.
* :meth:`Executor.cancel` kills the job (and its children); its outcome is still reported
  by :meth:`poll`, with ``cancelled=True``.
* Attached executors (``detached = False``: local, Ray): jobs die with the process that
  launched them (the orchestrator), so a killed orchestrator leaves no orphan training
  behind and a rerun can take the job over safely.
* Detached executors (``detached = True``: Slurm): jobs outlive the orchestrator. After
  :meth:`Executor.submit`, :meth:`Executor.handle` gives the job's external id
  (``"slurm:1234"``), which the scheduler stores in the queue; a later orchestrator calls
  :meth:`Executor.adopt` with it and from then on polls and cancels that job as if it had
  submitted it, instead of starting the job again. :meth:`Executor.shutdown` of a detached
  executor leaves running jobs alone.
* Data-parallel jobs: ``launch.procs`` CPU processes (or one per GPU when the job has
  ``gpus > 1`` and the backend has GPUs, see :func:`ranks`) start together, with the
  environment mmengine's launcher reads (``CM_LAUNCHER``: ``pytorch`` for torchrun-style
  ``RANK``/``WORLD_SIZE``/``MASTER_ADDR``, ``slurm`` for ``SLURM_PROCID``...); one dead rank
  ends them all, and the outcome is the job's. :meth:`Executor.check` rejects, before any
  job starts, a launch the backend can never run (e.g. several nodes on the local executor).
"""
from __future__ import annotations

import abc
import ctypes
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Protocol, TypeVar


@dataclass(frozen=True)
class Launch:
    """One job to start.

    Attributes:
        job_id: Key of the job; outcomes carry it back.
        argv: Command line.
        log: File that receives stdout and stderr (appended).
        cwd: Working directory.
        env: Variables added to the environment.
        gpus: GPUs the job needs (fraction to share one GPU; 0 for CPU jobs). More than
            one GPU means one data-parallel process per GPU.
        cpus: CPU threads the job uses (per process).
        procs: Data-parallel processes on CPUs (``procs_per_job``; where GPUs are used the
            GPU count decides, see :func:`ranks`).
        nodes: Nodes the processes spread over (Slurm; other executors need 1).
    """

    job_id: str
    argv: Sequence[str]
    log: Path
    cwd: Path
    env: Mapping[str, str] = field(default_factory=dict)
    gpus: float = 0.0
    cpus: int = 1
    procs: int = 1
    nodes: int = 1


def ranks(launch: Launch, has_gpus: bool) -> int:
    """Processes of a job: one per GPU for a multi-GPU job where GPUs exist, else ``procs``."""
    if has_gpus and launch.gpus > 1:
        return int(launch.gpus)
    return max(1, launch.procs)


@dataclass(frozen=True)
class Outcome:
    """How a job process ended.

    Attributes:
        job_id: The launch's ``job_id``.
        returncode: Exit status (negative: killed by that signal).
        cancelled: The executor killed it on :meth:`Executor.cancel`.
        device: Where it ran (``cpu``, ``cuda:0,1``, a Ray node...).
    """

    job_id: str
    returncode: int
    cancelled: bool = False
    device: str = "cpu"


class Executor(abc.ABC):
    """Runs job processes (see the module docstring for the contract)."""

    name: str = "?"
    #: Jobs outlive the orchestrator (see the module docstring).
    detached: bool = False

    @abc.abstractmethod
    def slots(self, launch: Launch) -> int:
        """How many jobs like ``launch`` can run at once."""

    @abc.abstractmethod
    def can_start(self, launch: Launch) -> bool:
        """Whether ``launch`` fits the free resources now."""

    @abc.abstractmethod
    def submit(self, launch: Launch) -> None:
        """Start ``launch`` (it must fit; see :meth:`can_start`)."""

    @abc.abstractmethod
    def poll(self) -> list[Outcome]:
        """Outcomes of jobs that ended since the last call."""

    @abc.abstractmethod
    def cancel(self, job_id: str) -> None:
        """Kill a running job; no-op for unknown or finished ones."""

    @abc.abstractmethod
    def running(self) -> list[str]:
        """Ids of the jobs started and not yet reported by :meth:`poll`."""

    @abc.abstractmethod
    def describe(self) -> str:
        """One line: where jobs run and how many at once."""

    @classmethod
    def check(cls, launch: Launch) -> None:
        """Raise ``ValueError`` naming the limitation when this executor can never run
        ``launch`` (checked before anything is queued, without starting the backend)."""
        if launch.nodes > 1:
            raise ValueError(f"the {cls.name} executor runs a job on one machine; "
                             f"nodes_per_job: {launch.nodes} needs --executor slurm")

    def handle(self, job_id: str) -> str | None:
        """External id of a submitted job (detached executors), e.g. ``"slurm:1234"``."""
        return None

    def adopt(self, launch: Launch, handle: str) -> bool:
        """Take over a job a previous orchestrator submitted (detached executors).

        Returns:
            ``True`` when the backend knows the job (running, or ended with an outcome that
            :meth:`poll` will report); ``False`` when it is gone and must be started again.
        """
        return False

    def shutdown(self) -> None:
        """Kill running jobs (detached executors: leave them) and release the backend."""
        if self.detached:
            return
        for job_id in self.running():
            self.cancel(job_id)


class Tracked(Protocol):
    """A backend's handle on one started job (a process, a Ray task, a Slurm job)."""

    cancelled: bool


H = TypeVar("H", bound=Tracked)


class TrackingExecutor(Executor, Generic[H]):
    """An executor that holds each started job's handle in ``self._jobs`` (job id -> handle)
    until :meth:`poll` reports it, and so has :meth:`running`, :meth:`cancel` and a
    :meth:`can_start` by slot count. A backend adds how to stop one job (:meth:`_stop`)."""

    def __init__(self) -> None:
        self._jobs: dict[str, H] = {}

    def can_start(self, launch: Launch) -> bool:
        return len(self._jobs) < self.slots(launch)

    def running(self) -> list[str]:
        return list(self._jobs)

    def cancel(self, job_id: str) -> None:
        job = self._jobs.get(job_id)
        if job is None or self._ended(job):
            return
        job.cancelled = True  # poll reports the outcome as cancelled
        self._stop(job)

    def _ended(self, job: H) -> bool:
        """Whether the job has ended already (its outcome not polled yet): nothing to stop.
        By default the backend only learns it in :meth:`poll`."""
        return False

    @abc.abstractmethod
    def _stop(self, job: H) -> None:
        """Kill the job and its children (it is marked cancelled already)."""


# --------------------------------------------------------------------------- helpers

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn``: the child gets SIGKILL when its parent dies (Linux).

    Without this, SIGKILL on the orchestrator would leave its training processes running
    unsupervised; with it, their heartbeat stops with them and a rerun resumes the job.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except OSError:  # pragma: no cover - no glibc
            return
    os.setsid()  # own process group, so cancel() can kill the job's children too


def torchrun_argv(argv: Sequence[str], nprocs: int) -> list[str]:
    """``argv`` started as ``nprocs`` local ranks by torchrun (one process when 1).

    ``--standalone`` picks a free rendezvous port (several jobs share a machine);
    ``--no-python`` runs any command line; torchrun's default of no restarts makes one dead
    rank stop the others and torchrun exit non-zero.
    """
    if nprocs <= 1:
        return list(argv)
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc-per-node={nprocs}", "--no-python", *argv]


def job_env(launch: Launch, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a job process: ``base`` (default ``os.environ``) + the launch's."""
    env = dict(os.environ if base is None else base)
    env.update(launch.env)
    threads = str(max(1, launch.cpus))
    env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, PYTHONUNBUFFERED="1")
    return env
