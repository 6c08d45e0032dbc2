"""Slurm executor: each job is a Slurm batch job (``sbatch``), its ranks started by ``srun``.

The job's batch script (``<log>.sbatch``, next to the job's log) asks for ``nodes`` x ranks
tasks with ``cpus`` CPUs each (and one GPU per rank where the cluster has GPUs), exports
the launch's environment, runs ``srun --kill-on-bad-exit=1 <argv>`` (one dead rank ends
the step) and writes the exit status to ``<log>.slurm-<id>.rc``; stdout and stderr are
appended to the job's log. Jobs are submitted with ``--requeue``: Slurm itself restarts a
job lost to a node failure or pre-emption, under the same id, and the job process resumes
from the last checkpoint in its work dir.

Jobs are *detached*: they keep running when the orchestrator exits or is killed. The
scheduler stores :meth:`SlurmExecutor.handle` (``"slurm:<id>"``) in the queue, and the
next ``orchestrator run`` adopts the job by id (:meth:`SlurmExecutor.adopt`) instead of
submitting it again; ``orchestrator cancel`` and :meth:`SlurmExecutor.cancel` are
``scancel``. State comes from ``squeue --states=all`` (accounting, ``sacct``, is not
needed), asked at most every ``poll_s`` seconds.

A data-parallel job gets ``CM_LAUNCHER=slurm`` and ``MASTER_PORT`` (derived from the
Slurm job id, so two jobs on one node do not collide): the job process initialises
mmengine's ``slurm`` launcher from ``SLURM_PROCID``/``SLURM_NTASKS``/``SLURM_NODELIST``.
Work dirs and logs must be on a file system the compute nodes share with the orchestrator.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ._base import Launch, Outcome, TrackingExecutor, job_env, ranks

#: squeue states of a job that has not ended (REQUEUED/PENDING after a pre-emption too).
ACTIVE = frozenset({"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED",
                    "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESIZING", "SIGNALING",
                    "STAGE_OUT", "STOPPED"})
#: Options of the ``executor:`` section of a study / ``--slurm-*`` flags -> sbatch option.
OPTIONS = {"partition": "--partition", "account": "--account", "qos": "--qos",
           "time": "--time", "mem": "--mem", "constraint": "--constraint"}


class SlurmError(RuntimeError):
    """A Slurm command failed (message: the command and its stderr)."""


def _run(argv: Sequence[str], timeout: float = 30.0) -> str:
    try:
        out = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError) as exc:
        raise SlurmError(f"{' '.join(argv)}: {exc}") from exc
    if out.returncode != 0:
        raise SlurmError(f"{' '.join(argv)} exited {out.returncode}: {out.stderr.strip()}")
    return out.stdout


def available() -> str | None:
    """Why Slurm cannot be used from here (``None`` when ``sbatch`` and ``squeue`` exist)."""
    missing = [c for c in ("sbatch", "squeue", "scancel") if shutil.which(c) is None]
    return f"Slurm clients not found ({', '.join(missing)})" if missing else None


def parse_handle(handle: str) -> str:
    """Slurm job id of a handle ``"slurm:<id>"`` (``ValueError`` otherwise)."""
    kind, _, sid = handle.partition(":")
    if kind != "slurm" or not sid.isdigit():
        raise ValueError(f"not a Slurm job handle: {handle!r}")
    return sid


@dataclass(frozen=True)
class JobState:
    """What squeue says about one job: state, nodes (``""`` while pending), reason."""

    state: str
    nodes: str = ""
    reason: str = ""

    def __str__(self) -> str:
        where = f" on {self.nodes}" if self.nodes and self.nodes != "(null)" else ""
        why = (f" ({self.reason})" if self.reason and self.reason != "None"
               and self.state != "RUNNING" else "")
        return f"{self.state}{where}{why}"


def query(slurm_ids: Iterable[str]) -> dict[str, JobState]:
    """squeue's view of ``slurm_ids`` (ended jobs too, while slurmctld remembers them).

    Ids slurmctld no longer knows are absent. Raises :class:`SlurmError` when squeue
    cannot answer (slurmctld down): callers treat that as "no news", not as job failures.
    """
    ids = sorted(set(slurm_ids))
    if not ids:
        return {}
    try:
        out = _run(["squeue", "-h", "--states=all", "-j", ",".join(ids),
                    "-o", "%i|%T|%N|%r"])
    except SlurmError as exc:
        # squeue refuses the whole list when one id is unknown and no other is valid.
        if "Invalid job id" in str(exc):
            return {}
        raise
    states: dict[str, JobState] = {}
    for line in out.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 4 and parts[0] in ids:
            states[parts[0]] = JobState(parts[1], parts[2], parts[3])
    return states


def describe_handles(handles: Mapping[str, str]) -> dict[str, str]:
    """``job_id -> "RUNNING on node1"`` for the Slurm handles among ``handles`` (for status)."""
    ids = {job_id: parse_handle(h) for job_id, h in handles.items()
           if h.startswith("slurm:")}
    if not ids or available():
        return {}
    try:
        states = query(ids.values())
    except SlurmError as exc:
        return dict.fromkeys(ids, f"? ({exc})")
    return {job_id: f"slurm {sid} {states[sid]}" if sid in states
            else f"slurm {sid} (no longer known to Slurm)" for job_id, sid in ids.items()}


def scancel(handle: str) -> None:
    """Cancel the Slurm job of ``handle`` (no error when it has already ended)."""
    try:
        _run(["scancel", parse_handle(handle)])
    except SlurmError as exc:
        if "Invalid job id" not in str(exc) and "already completing" not in str(exc):
            raise


@dataclass
class _Job:
    launch: Launch
    slurm_id: str
    cancelled: bool = False
    state: JobState = field(default_factory=lambda: JobState("PENDING"))
    gone_since: float | None = None


def _rc_file(log: Path, slurm_id: str) -> Path:
    return log.with_name(f"{log.name}.slurm-{slurm_id}.rc")


def _exit_status(bash_rc: int) -> int:
    """srun's status as the executor contract's return code (negative: signal)."""
    # srun exits 128 + n when a task died of signal n (bash's convention).
    return -(bash_rc - 128) if 128 < bash_rc < 128 + 65 else bash_rc


class SlurmExecutor(TrackingExecutor[_Job]):
    """Jobs as Slurm batch jobs (see the module docstring).

    Args:
        parallel: Most jobs in Slurm's queue at once from this orchestrator (pending ones
            count; default 64: Slurm does the real scheduling).
        partition, account, qos, time, mem, constraint: sbatch options (``None``: the
            cluster's defaults); ``time`` as Slurm writes it (``"12:00:00"``, ``"2-00:00:00"``).
        sbatch: Extra ``#SBATCH`` lines, e.g. ``["--exclusive", "--reservation=paper"]``.
        gpus: Whether to ask for GPUs (default: when ``sinfo`` lists gpu GRES).
        poll_s: Least seconds between two squeue calls.
    """

    name = "slurm"
    detached = True

    @classmethod
    def check(cls, launch: Launch) -> None:
        """Several nodes are fine here (``srun`` spreads the ranks); nothing to refuse."""

    def __init__(self, parallel: int | None = None, partition: str | None = None,
                 account: str | None = None, qos: str | None = None,
                 time: str | None = None, mem: str | None = None,
                 constraint: str | None = None, sbatch: Sequence[str] = (),
                 gpus: bool | None = None, poll_s: float = 1.0) -> None:
        reason = available()
        if reason:
            raise RuntimeError(f"--executor slurm: {reason}; run the orchestrator on a "
                               "machine where sbatch works (a login node)")
        super().__init__()
        self.parallel = parallel
        self.options = {k: v for k, v in dict(partition=partition, account=account, qos=qos,
                                              time=time, mem=mem,
                                              constraint=constraint).items() if v}
        self.extra = [str(x) for x in sbatch]
        bad = check_sbatch_lines(self.extra)
        if bad:
            raise ValueError("; ".join(bad))
        self.gpus = self._cluster_has_gpus() if gpus is None else gpus
        self.poll_s = poll_s
        self._last_query = 0.0

    @staticmethod
    def _cluster_has_gpus() -> bool:
        try:
            return "gpu" in _run(["sinfo", "-h", "-o", "%G"]).lower()
        except SlurmError:
            return False

    # ------------------------------------------------------------------ script

    def script(self, launch: Launch) -> str:
        """The batch script of ``launch`` (a pure function of the launch and the options)."""
        n = ranks(launch, has_gpus=self.gpus)
        lines = ["#!/bin/bash",
                 f"#SBATCH --job-name=cm-{launch.job_id[:12]}",
                 f"#SBATCH --output={launch.log}",
                 "#SBATCH --open-mode=append",
                 f"#SBATCH --chdir={launch.cwd}",
                 f"#SBATCH --nodes={launch.nodes}",
                 f"#SBATCH --ntasks={n}",
                 f"#SBATCH --cpus-per-task={max(1, launch.cpus)}",
                 "#SBATCH --requeue"]
        if self.gpus and launch.gpus > 0:
            # Slurm has no fractional GPUs: a shared-GPU job gets a whole one here.
            lines.append("#SBATCH --gpus-per-task=1" if n > 1 else "#SBATCH --gpus=1")
        lines += [f"#SBATCH {OPTIONS[k]}={v}" for k, v in self.options.items()]
        lines += [f"#SBATCH {x}" for x in self.extra]
        env = job_env(launch, base={})
        if n > 1:
            env["CM_LAUNCHER"] = "slurm"
        lines += [f"export {k}={shlex.quote(v)}" for k, v in env.items()]
        if n > 1:
            lines.append("export MASTER_PORT=$((20000 + SLURM_JOB_ID % 20000))")
        rc = _rc_file(launch.log, "${SLURM_JOB_ID}")
        lines += [
            "srun --kill-on-bad-exit=1 " + " ".join(shlex.quote(a) for a in launch.argv),
            "rc=$?",
            f'echo "$rc" > "{rc}"',
            "exit $rc", ""]
        return "\n".join(lines)

    # ------------------------------------------------------------------ contract

    def slots(self, launch: Launch) -> int:
        return self.parallel if self.parallel is not None else 64

    def submit(self, launch: Launch) -> None:
        if not self.can_start(launch):
            raise RuntimeError(f"no free slot for job {launch.job_id}")
        launch.log.parent.mkdir(parents=True, exist_ok=True)
        path = launch.log.with_name(launch.log.name + ".sbatch")
        path.write_text(self.script(launch))
        out = _run(["sbatch", "--parsable", str(path)])
        slurm_id = out.strip().split(";")[0]
        if not slurm_id.isdigit():
            raise SlurmError(f"sbatch {path}: unexpected answer {out!r}")
        self._jobs[launch.job_id] = _Job(launch, slurm_id)

    def handle(self, job_id: str) -> str | None:
        job = self._jobs.get(job_id)
        return f"slurm:{job.slurm_id}" if job else None

    def adopt(self, launch: Launch, handle: str) -> bool:
        slurm_id = parse_handle(handle)
        known = slurm_id in query([slurm_id]) or _rc_file(launch.log, slurm_id).exists()
        if known:
            self._jobs[launch.job_id] = _Job(launch, slurm_id)
            self._last_query = 0.0  # report its state at the next poll
        return known

    def poll(self) -> list[Outcome]:
        if not self._jobs or time.monotonic() - self._last_query < self.poll_s:
            return []
        self._last_query = time.monotonic()
        try:
            states = query(j.slurm_id for j in self._jobs.values())
        except SlurmError:
            return []  # slurmctld unreachable for now: no news is not an outcome
        out = []
        for job_id, job in list(self._jobs.items()):
            st = states.get(job.slurm_id)
            if st is not None:
                job.state = st
                if st.state in ACTIVE:
                    continue
            rc_file = _rc_file(job.launch.log, job.slurm_id)
            if st is None and not rc_file.exists() and not job.cancelled:
                # Just submitted and not yet visible, or purged: give slurmctld a moment.
                job.gone_since = job.gone_since or time.monotonic()
                if time.monotonic() - job.gone_since < 30:
                    continue
            try:
                rc = _exit_status(int(rc_file.read_text().strip()))
            except (OSError, ValueError):
                rc = -9  # ended without its script finishing: cancelled, time limit, node
            if job.cancelled and rc == 0:
                rc = -15
            del self._jobs[job_id]
            nodes = job.state.nodes if job.state.nodes not in ("", "(null)") else "?"
            out.append(Outcome(job_id, rc, job.cancelled,
                               f"slurm:{job.slurm_id}@{nodes}"))
        return out

    def _stop(self, job: _Job) -> None:
        scancel(f"slurm:{job.slurm_id}")
        self._last_query = 0.0

    def states(self) -> dict[str, JobState]:
        """Last known Slurm state of each tracked job (for progress lines)."""
        return {job_id: job.state for job_id, job in self._jobs.items()}

    def describe(self) -> str:
        opts = ", ".join(f"{k}={v}" for k, v in self.options.items()) or "cluster defaults"
        return (f"slurm executor: {opts}{', GPUs' if self.gpus else ', CPU jobs'}, up to "
                f"{self.slots(Launch('?', [], Path(os.devnull), Path('.')))} jobs in Slurm's "
                "queue; jobs keep running when the orchestrator exits")


_SBATCH_LINE = re.compile(r"^--?[A-Za-z]")


def check_sbatch_lines(lines: Sequence[str]) -> list[str]:
    """Problems with extra sbatch lines (each must be one option, ``--name[=value]``)."""
    return [f"sbatch line {x!r} is not an sbatch option (write it as --option=value)"
            for x in lines if not _SBATCH_LINE.match(str(x)) or "\n" in str(x)]
