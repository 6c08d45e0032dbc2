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
* Jobs die with the process that launched them (the orchestrator): a killed orchestrator
  leaves no orphan training behind, so a rerun can take the job over safely.
* :meth:`Executor.shutdown` kills what is still running and releases the backend.
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


@dataclass(frozen=True)
class Launch:
    """One job to start.

    Attributes:
        job_id: Key of the job; outcomes carry it back.
        argv: Command line.
        log: File that receives stdout and stderr (appended).
        cwd: Working directory.
        env: Variables added to the environment.
        gpus: GPUs the job needs (fraction to share one GPU; 0 for CPU jobs).
        cpus: CPU threads the job uses.
    """

    job_id: str
    argv: Sequence[str]
    log: Path
    cwd: Path
    env: Mapping[str, str] = field(default_factory=dict)
    gpus: float = 0.0
    cpus: int = 1


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

    def shutdown(self) -> None:
        """Kill running jobs and release the backend."""
        for job_id in self.running():
            self.cancel(job_id)


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


def job_env(launch: Launch, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a job process: ``base`` (default ``os.environ``) + the launch's."""
    env = dict(os.environ if base is None else base)
    env.update(launch.env)
    threads = str(max(1, launch.cpus))
    env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, PYTHONUNBUFFERED="1")
    return env
