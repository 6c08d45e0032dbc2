"""Progress display: positions, ETAs, plain lines within 80 columns, the rich live block."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from orchestrator.run.progress import (
    JobView,
    LiveDisplay,
    PlainDisplay,
    Snapshot,
    fmt_s,
    job_line,
    job_seconds,
    study_eta,
)


def _train(it: int, n_it: int = 192, ep: int = 0, n_ep: int = 6, **kw: float) -> JobView:
    return JobView("1a2b3c4d5e6f7a8b", "V-19-slim-dw · seed 0", "train", ep, n_ep, it, n_it,
                   **kw)


def test_first_epoch_shows_iteration_progress_not_epoch_zero() -> None:
    assert _train(5).position() == "train ep 1/6 it 5/32"
    assert _train(32, ep=1).position() == "train ep 2/6 it 0/32"
    assert _train(100, ep=3).position() == "train ep 4/6 it 4/32"
    assert "ep 0/" not in _train(0).position()


def test_positions_of_other_phases() -> None:
    assert JobView("a" * 16, "n").position() == "starting"
    assert JobView("a" * 16, "n", "val", 3, 6, 96, 192).position() == "val after ep 3/6"
    assert JobView("a" * 16, "n", "test", 6, 6, 192, 192).position() == "test after ep 6/6"
    # An iteration-based schedule (or one whose iterations do not split into epochs).
    assert JobView("a" * 16, "n", "train", 0, 1, 50, 1000).position() == "train it 50/1000"
    # A fake job reports finished epochs only.
    assert JobView("a" * 16, "n", "train", 1, 4).position() == "train ep 2/4"
    assert JobView("a" * 16, "n", "train", 4, 4).position() == "train ep 4/4"


def test_read_progress_file(tmp_path: Path) -> None:
    p = tmp_path / "progress.json"
    assert JobView.read(p, "a" * 16, "n", 3.0).phase == "starting"
    p.write_text(json.dumps({"phase": "train", "epoch": 1, "max_epochs": 6, "iter": 40,
                             "max_iters": 192, "eta_s": 76.0, "updated": 1.0}))
    view = JobView.read(p, "a" * 16, "n", 3.0)
    assert (view.iter, view.max_iters, view.eta_s) == (40, 192, 76.0)
    p.write_text("{half a fi")  # a torn write reads as "starting", never raises
    assert JobView.read(p, "a" * 16, "n", 3.0).phase == "starting"


def test_remaining_from_eta_or_from_fraction() -> None:
    assert _train(40, eta_s=76.0, elapsed_s=30.0).remaining_s() == 76.0
    # No ETA: the fraction done implies it (a quarter done in 10 s -> 30 s left).
    assert JobView("a" * 16, "n", "train", 1, 4, elapsed_s=10.0).remaining_s() == 30.0
    assert JobView("a" * 16, "n", elapsed_s=10.0).remaining_s() is None


def test_job_seconds_prefers_finished_then_projected_then_history() -> None:
    running = [_train(96, eta_s=50.0, elapsed_s=50.0), _train(48, eta_s=150.0, elapsed_s=50.0)]
    assert job_seconds([100.0, 300.0, 200.0], running, 999.0) == 200.0
    assert job_seconds([], running, 999.0) == 150.0  # median of 100 and 200
    assert job_seconds([], [JobView("a" * 16, "n")], 999.0) == 999.0
    assert job_seconds([], [], None) is None


def test_study_eta_lays_queued_jobs_on_free_slots() -> None:
    # Two slots busy for 10 s and 40 s; three queued jobs of 30 s each:
    # slot A 10 -> 40 -> 70, slot B 40 -> 70; the last one ends at 70.
    running = [_train(1, eta_s=10.0), _train(1, eta_s=40.0)]
    assert study_eta(running, queued=3, slots=2, per_job_s=30.0) == 70.0
    # Free slots start queued jobs at once.
    assert study_eta([], queued=3, slots=4, per_job_s=30.0) == 30.0
    assert study_eta([], queued=0, slots=2, per_job_s=None) == 0.0
    # Unknown without an estimate for the queued jobs or a running job.
    assert study_eta(running, queued=1, slots=2, per_job_s=None) is None
    assert study_eta([JobView("a" * 16, "n", elapsed_s=5.0)], 0, 1, None) is None
    assert study_eta([JobView("a" * 16, "n", elapsed_s=5.0)], 0, 1, 20.0) == 15.0


def _snapshot(n_jobs: int = 2) -> Snapshot:
    jobs = [_train(40 + i, eta_s=76.0, elapsed_s=30.0) for i in range(n_jobs)]
    return Snapshot("[0:01:15] table4-with-a-long-study-name: 1/6 done, 2 running, 3 queued",
                    jobs, eta_s=400.0)


def test_plain_lines_are_short_and_once_per_interval() -> None:
    lines: list[str] = []
    now = [0.0]
    display = PlainDisplay(lines.append, interval_s=15.0, clock=lambda: now[0])
    display.update(_snapshot(), changed=False)
    assert lines[0] == "[0:01:15] table4-with-a-long-study-name: 1/6 done, 2 running, " \
                       "3 qu…; eta 0:06:40"
    assert len(lines) == 3 and all(len(s) <= 80 for s in lines)
    assert lines[1].startswith("  1a2b3c4d train ep 2/6 it 8/32 eta 0:01:16  V-19")
    for t in (1.0, 5.0, 14.0):  # nothing new, within the interval: silent
        now[0] = t
        display.update(_snapshot(), changed=False)
    assert len(lines) == 3
    now[0] = 14.5  # a job started or ended: the summary line only
    display.update(_snapshot(), changed=True)
    assert len(lines) == 4 and lines[-1].startswith("[0:01:15]")
    now[0] = 15.0
    display.update(_snapshot(), changed=False)
    assert len(lines) == 7


def test_job_line_is_clipped() -> None:
    job = JobView("a" * 16, "backbone=V-39 · neck=" + "x" * 80 + " · seed 0", "train", 0, 6,
                  3, 192, 50.0)
    line = job_line(job)
    assert len(line) == 80 and line.endswith("…")


def test_live_display_renders_jobs_and_events() -> None:
    from rich.console import Console

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=100, color_system=None)
    display = LiveDisplay(console=console, refresh_per_second=20)
    try:
        display.event("  start   1a2b3c4d (V-19-slim-dw · seed 0) attempt 1/2")
        display.update(_snapshot(), changed=True)
    finally:
        display.close()
    text = buf.getvalue()
    assert "start   1a2b3c4d" in text
    assert "1/6 done, 2 running, 3 queued; eta 0:06:40" in text
    assert "train ep 2/6 it 8/32" in text and "eta 0:01:16" in text
    assert "V-19-slim-dw · seed 0" in text


@pytest.mark.parametrize("seconds, text", [(None, "?"), (0, "0:00:00"), (3725.9, "1:02:05"),
                                           (-3, "0:00:00")])
def test_fmt_s(seconds: float | None, text: str) -> None:
    assert fmt_s(seconds) == text
