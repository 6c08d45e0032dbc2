"""What a running study shows: one line per running job and a study-level ETA.

Two displays share one interface: :class:`LiveDisplay` (rich; when standard output is a
terminal) redraws a small block in place below the event lines, :class:`PlainDisplay`
(logs, pipes, CI) prints a summary line on every change and, at most every ``interval_s``,
one short line per running job. Both read each job's ``progress.json``, written by the job
(``CMProgressHook`` for mmengine jobs: ``phase``, ``epoch`` = epochs completed, ``iter`` =
iterations completed, ``max_epochs``, ``max_iters``, ``eta_s`` from the measured iteration
times; fake jobs write ``epoch``/``max_epochs`` only).

The study ETA (:func:`study_eta`) lays the queued jobs onto the executor's slots after the
running ones: a running job needs its own ETA (or, without one, the time its progress
fraction implies), a queued job the median duration of the jobs finished in this run, else
of the running jobs' projected durations, else the queue's history.
"""
from __future__ import annotations

import heapq
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

Printer = Callable[[str], None]

#: Columns a plain progress line is kept within.
WIDTH = 80


def fmt_s(seconds: float | None) -> str:
    """``H:MM:SS`` (``?`` when unknown)."""
    if seconds is None:
        return "?"
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


@dataclass(frozen=True)
class JobView:
    """One running job as the display shows it.

    Attributes:
        job_id: Identity hash.
        name: Readable name (level names and seed).
        phase: ``starting`` (no progress yet), ``train``, ``val`` or ``test``.
        epoch: Epochs completed (mmengine's ``runner.epoch``), or ``None``.
        max_epochs: Epochs of the schedule, or ``None``.
        iter: Iterations completed over the whole schedule, or ``None``.
        max_iters: Iterations of the schedule, or ``None``.
        eta_s: Remaining training seconds from the measured iteration times, or ``None``.
        elapsed_s: Seconds since the job was started.
    """

    job_id: str
    name: str
    phase: str = "starting"
    epoch: int | None = None
    max_epochs: int | None = None
    iter: int | None = None
    max_iters: int | None = None
    eta_s: float | None = None
    elapsed_s: float = 0.0

    @classmethod
    def read(cls, path: Path, job_id: str, name: str, elapsed_s: float) -> JobView:
        """The job's view from its ``progress.json`` (``starting`` while there is none)."""
        try:
            d: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            return cls(job_id, name, elapsed_s=elapsed_s)

        def num(key: str) -> Any:
            v = d.get(key)
            return v if isinstance(v, int | float) and not isinstance(v, bool) else None

        return cls(job_id, name, phase=str(d.get("phase") or "train"), epoch=num("epoch"),
                   max_epochs=num("max_epochs"), iter=num("iter"), max_iters=num("max_iters"),
                   eta_s=num("eta_s"), elapsed_s=elapsed_s)

    @property
    def fraction(self) -> float | None:
        """Share of the schedule done, from iterations when known, else from epochs."""
        if self.iter is not None and self.max_iters:
            return min(1.0, self.iter / self.max_iters)
        if self.epoch is not None and self.max_epochs:
            return min(1.0, self.epoch / self.max_epochs)
        return None

    def position(self) -> str:
        """Where the job is: ``train ep 2/6 it 12/32``, ``val after ep 3/6``, ``starting``.

        During an epoch the epoch shown is the one running (``ep 1/6`` in the first, never
        ``ep 0/6``) with the iteration inside it.
        """
        if self.phase == "starting":
            return "starting"
        ep, n_ep, it, n_it = self.epoch, self.max_epochs, self.iter, self.max_iters
        if self.phase in ("val", "test"):
            after = f" after ep {ep}/{n_ep}" if ep is not None and n_ep else ""
            return f"{self.phase}{after}"
        if it is not None and n_it:
            if n_ep and n_ep > 1 and n_it % n_ep == 0 and it < n_it:
                per = n_it // n_ep
                current = min(it // per + 1, n_ep)
                return f"train ep {current}/{n_ep} it {it - (current - 1) * per}/{per}"
            return f"train it {it}/{n_it}"
        if ep is not None and n_ep:
            return f"train ep {min(ep + 1, n_ep) if ep < n_ep else ep}/{n_ep}"
        return self.phase

    def remaining_s(self) -> float | None:
        """Seconds left: the job's own ETA, else what its progress fraction implies."""
        if self.eta_s is not None:
            return float(self.eta_s)
        f = self.fraction
        if f and self.elapsed_s > 0:
            return self.elapsed_s * (1 - f) / f
        return None

    def projected_s(self) -> float | None:
        """The whole job's expected duration (elapsed + remaining), when known."""
        left = self.remaining_s()
        return None if left is None else self.elapsed_s + left


def job_seconds(finished: Sequence[float], running: Sequence[JobView],
                history: float | None = None) -> float | None:
    """Expected duration of one queued job.

    The median duration of the jobs finished in this run, else the median projected
    duration of the running jobs (from their measured iteration times), else ``history``
    (e.g. the queue's record of earlier runs of the same config family).
    """
    if finished:
        return float(statistics.median(finished))
    projected = [p for p in (j.projected_s() for j in running) if p is not None]
    if projected:
        return float(statistics.median(projected))
    return history


def study_eta(running: Sequence[JobView], queued: int, slots: int,
              per_job_s: float | None) -> float | None:
    """Seconds until every running and queued job is done, or ``None`` when unknown.

    Queued jobs start, in order, on the slot that frees first (the executor's behaviour);
    each takes ``per_job_s``. A running job without an estimate uses ``per_job_s`` minus
    its elapsed time.
    """
    ends: list[float] = []
    for job in running:
        left = job.remaining_s()
        if left is None:
            if per_job_s is None:
                return None
            left = max(0.0, per_job_s - job.elapsed_s)
        ends.append(left)
    if queued:
        if per_job_s is None:
            return None
        ends += [0.0] * max(0, max(1, slots) - len(ends))
        heapq.heapify(ends)
        for _ in range(queued):
            heapq.heappush(ends, heapq.heappop(ends) + per_job_s)
    return max(ends) if ends else 0.0


@dataclass
class Snapshot:
    """The state of a run at one moment.

    Attributes:
        headline: The scheduler's summary (``[0:01:15] smoke: 1/6 done, 2 running``).
        jobs: The running jobs of this process.
        eta_s: Study ETA (:func:`study_eta`), or ``None`` (unknown, or nothing left).
    """

    headline: str
    jobs: list[JobView] = field(default_factory=list)
    eta_s: float | None = None

    def summary(self, width: int | None = None) -> str:
        """The headline and the ETA; the headline is shortened first to fit ``width``."""
        tail = f"; eta {fmt_s(self.eta_s)}" if self.eta_s is not None else ""
        if width is not None and len(self.headline) + len(tail) > width:
            return _clip(self.headline, width - len(tail)) + tail
        return self.headline + tail


def job_line(job: JobView, width: int = WIDTH) -> str:
    """``  1a2b3c4d train ep 2/6 it 12/32 eta 0:01:10  V-19 · seed 0`` within ``width``."""
    eta = job.remaining_s()
    head = f"  {job.job_id[:8]} {job.position()}" + (
        f" eta {fmt_s(eta)}" if eta is not None and job.phase == "train" else "")
    return _clip(f"{head}  {job.name}", width)


class Display(Protocol):
    """Where a run's events and progress go."""

    def event(self, text: str) -> None:
        """A line that stays (a job started, finished, failed)."""

    def update(self, snapshot: Snapshot, changed: bool) -> None:
        """The current state; called every loop turn (``changed``: a job started or ended)."""

    def close(self) -> None:
        """The run is over (or interrupted)."""


class PlainDisplay:
    """Log lines: the summary on every change, job lines at most every ``interval_s``.

    Args:
        out: Where lines go.
        interval_s: Seconds between full reports (summary and one line per running job).
        width: Columns a line is clipped to.
        clock: Time source (tests).
    """

    def __init__(self, out: Printer = print, interval_s: float = 15.0, width: int = WIDTH,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.out, self.interval_s, self.width, self.clock = out, interval_s, width, clock
        self._last_full: float | None = None

    def event(self, text: str) -> None:
        self.out(text)

    def update(self, snapshot: Snapshot, changed: bool) -> None:
        now = self.clock()
        full = self._last_full is None or now - self._last_full >= self.interval_s
        if not (full or changed):
            return
        self.out(snapshot.summary(self.width))
        if full:
            self._last_full = now
            for job in snapshot.jobs:
                self.out(job_line(job, self.width))

    def close(self) -> None:
        pass


class LiveDisplay:
    """A rich live block: the summary and one bar per running job, redrawn in place.

    Event lines print above the block and stay. Args:
        console: A ``rich.console.Console`` (default: standard output).
        refresh_per_second: Redraws per second.
    """

    def __init__(self, console: Any = None, refresh_per_second: float = 2.0) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = console or Console()
        self._snapshot: Snapshot | None = None
        self.live = Live(console=self.console, refresh_per_second=refresh_per_second,
                         transient=False, get_renderable=self._render)
        self.live.start()

    def _render(self) -> Any:
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        grid = Table.grid(padding=(0, 1))
        snap = self._snapshot
        if snap is None:
            return grid
        grid.add_row(Text(snap.summary(), style="bold"))
        if snap.jobs:
            jobs = Table.grid(padding=(0, 1))
            for _ in range(5):
                jobs.add_column()
            for job in snap.jobs:
                f = job.fraction
                bar = ProgressBar(total=1.0, completed=f or 0.0, width=20,
                                  pulse=f is None)
                left = job.remaining_s()
                eta = f"eta {fmt_s(left)}" if left is not None and job.phase == "train" else ""
                jobs.add_row(Text(job.job_id[:8], style="dim"), bar,
                             Text(job.position()), Text(eta), Text(job.name, style="cyan"))
            grid.add_row(jobs)
        return grid

    def event(self, text: str) -> None:
        self.live.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def update(self, snapshot: Snapshot, changed: bool) -> None:
        self._snapshot = snapshot
        if changed:
            self.live.refresh()

    def close(self) -> None:
        self.live.stop()


def make_display(mode: str, out: Printer, interval_s: float = 15.0) -> Display:
    """``live`` (rich), ``plain``, or ``auto``: live when standard output is a terminal."""
    import sys

    if mode == "auto":
        mode = "live" if sys.stdout.isatty() else "plain"
    if mode == "live":
        return LiveDisplay()
    return PlainDisplay(out, interval_s)
