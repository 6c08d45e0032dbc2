"""A machine-wide gate that gives a job's timing phase the machine's cores to itself.

Jobs of any orchestrator on the machine share two lock files (``$CM_TIMING_LOCK``, default
``<tmp>/centermask-mm-timing.lock``): every train/val/test iteration of a job passes a
*turnstile* (``.gate``, shared for an instant) and holds ``.work`` shared while it runs
(:class:`CoresGateHook`); a timing phase (:func:`exclusive_cores`) takes the turnstile
exclusively, so no new iteration starts anywhere, then ``.work`` exclusively, which waits
for the iterations in flight. Locks are ``flock`` locks: the kernel drops them when a
process dies, even on SIGKILL.

What the gate cannot stop -- processes that are not project jobs, data-loader workers
prefetching a batch -- is measured: :func:`exclusive_cores` reports the CPU time other
processes used during the phase, and the timing is marked *contended* when it exceeds
:data:`CONTENDED_CORES` cores on average, or when the gate was not had within the wait
limit.
"""
from __future__ import annotations

import errno
import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

#: Average number of cores other processes may use during a timing phase before the
#: measurement counts as contended (noise of an idle desktop is well below).
CONTENDED_CORES = 0.25


def lock_path() -> Path:
    return Path(os.environ.get("CM_TIMING_LOCK")
                or Path(tempfile.gettempdir()) / "centermask-mm-timing.lock")


def _open(path: Path) -> IO[bytes]:
    # Created readable and writable by everyone: the lock is machine-wide, across users.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    return os.fdopen(fd, "r+b")


def _flock(f: IO[bytes], op: int, deadline: float | None) -> bool:
    """flock with a deadline (``None``: wait for ever); False when the deadline passed."""
    if deadline is None:
        fcntl.flock(f, op)
        return True
    while True:
        try:
            fcntl.flock(f, op | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


class CoresGate:
    """The two lock files of the gate (opened lazily, kept open for the process)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or lock_path()
        self._gate: IO[bytes] | None = None
        self._work: IO[bytes] | None = None

    def _files(self) -> tuple[IO[bytes], IO[bytes]]:
        if self._gate is None or self._work is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._gate = _open(self.path.with_name(self.path.name + ".gate"))
            self._work = _open(self.path.with_name(self.path.name + ".work"))
        return self._gate, self._work

    def enter_iteration(self) -> None:
        """Before an iteration: pass the turnstile, then hold the work lock shared."""
        gate, work = self._files()
        fcntl.flock(gate, fcntl.LOCK_SH)
        fcntl.flock(work, fcntl.LOCK_SH)
        fcntl.flock(gate, fcntl.LOCK_UN)

    def leave_iteration(self) -> None:
        if self._work is not None:
            fcntl.flock(self._work, fcntl.LOCK_UN)

    @contextmanager
    def exclusive(self, wait_s: float | None) -> Iterator[bool]:
        """Hold the machine for a timing phase; yields whether the gate was had."""
        gate, work = self._files()
        self.leave_iteration()
        deadline = None if wait_s is None else time.monotonic() + wait_s
        got_gate = _flock(gate, fcntl.LOCK_EX, deadline)
        got_work = got_gate and _flock(work, fcntl.LOCK_EX, deadline)
        try:
            yield got_work
        finally:
            if got_work:
                fcntl.flock(work, fcntl.LOCK_UN)
            if got_gate:
                fcntl.flock(gate, fcntl.LOCK_UN)


@dataclass
class Contention:
    """What happened on the machine during a timing phase.

    Attributes:
        gated: The phase held the gate (no project job iterated meanwhile).
        others_cores: Average cores used by other processes during the phase.
        waited_s: Seconds spent waiting for the gate.
    """

    gated: bool
    others_cores: float
    waited_s: float

    @property
    def contended(self) -> bool:
        return not self.gated or self.others_cores > CONTENDED_CORES


def _busy_s() -> float:
    import psutil

    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


def _own_s() -> float:
    import psutil

    t = psutil.Process().cpu_times()
    return float(t.user + t.system + t.children_user + t.children_system)


@contextmanager
def exclusive_cores(gate: CoresGate | None = None, wait_s: float | None = 1800.0
                    ) -> Iterator[Contention]:
    """Run the block with the machine's cores to itself as far as the gate can ensure.

    The yielded :class:`Contention` is filled in when the block ends.
    """
    gate = gate or CoresGate()
    t0 = time.monotonic()
    with gate.exclusive(wait_s) as gated:
        waited = time.monotonic() - t0
        result = Contention(gated, 0.0, waited)
        busy0, own0, w0 = _busy_s(), _own_s(), time.monotonic()
        yield result
        wall = max(time.monotonic() - w0, 1e-6)
        result.others_cores = max(0.0, (_busy_s() - busy0) - (_own_s() - own0)) / wall
