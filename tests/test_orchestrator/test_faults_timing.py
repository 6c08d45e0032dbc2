"""Issue 16: time_ms is measured with the machine's cores to the job (a machine-wide gate
every job iteration passes), or marked contended."""
from __future__ import annotations

import json
import subprocess
import sys
import time

from orchestrator.job.timing_gate import CoresGate, exclusive_cores
from orchestrator.workspace import REPO_ROOT

TRAINER = """
import json, sys, time
from pathlib import Path
from orchestrator.job.timing_gate import CoresGate
gate = CoresGate(Path(sys.argv[1]))
spans = []
end = time.time() + float(sys.argv[2])
while time.time() < end:
    gate.enter_iteration()
    t0 = time.time()
    x = 0
    while time.time() - t0 < 0.02:  # an iteration: busy on a core
        x += 1
    spans.append((t0, time.time()))
    gate.leave_iteration()
Path(sys.argv[3]).write_text(json.dumps(spans))
"""


def test_no_job_iterates_while_a_timing_phase_holds_the_gate(tmp_path):
    lock = tmp_path / "timing.lock"
    out = tmp_path / "spans.json"
    trainer = subprocess.Popen([sys.executable, "-c", TRAINER, str(lock), "6", str(out)],
                               cwd=REPO_ROOT)
    time.sleep(2.0)  # the trainer iterates
    with exclusive_cores(CoresGate(lock), wait_s=30) as load:
        t0 = time.time()
        time.sleep(1.0)  # the timing phase
        t1 = time.time()
    trainer.wait(timeout=60)
    spans = json.loads(out.read_text())
    assert load.gated and load.waited_s < 5
    assert any(e < t0 for _, e in spans) and any(s > t1 for s, _ in spans)  # before, after
    assert not [(s, e) for s, e in spans if s < t1 and e > t0]  # none during the phase
    assert load.others_cores >= 0  # (what else ran on a shared machine is measured, not controlled)


def test_a_busy_machine_marks_the_time_contended(tmp_path):
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        with exclusive_cores(CoresGate(tmp_path / "lock"), wait_s=5) as load:
            time.sleep(1.0)
    finally:
        hog.kill()
    assert load.gated and load.others_cores > 0.5 and load.contended


def test_contended_times_are_marked_and_never_bold():
    """A contended time (or one whose run does not say) is shown with ‡ and not ranked."""
    import pandas as pd

    from analysis.render import render
    from analysis.spec import RowSpec, TableSpec, column_spec
    from analysis.tables import build_table

    rows = [RowSpec(n, {"b": n}, None) for n in ("fast", "slow", "old")]
    spec = TableSpec("T", None, rows, None, [column_spec("time_ms")])
    runs = pd.DataFrame([
        {"run_id": f"r{i}", "experiment_id": "1", "study": "s", "job_hash": f"h{i}", "seed": 0,
         "git_commit": "c", "git_dirty": False, "dataset": "toy:x", "profile": "p",
         "status": "succeeded", "levels": {"b": n}, "time_ms": t, "time_hardware": "cpu",
         "time_contended": c}
        for i, (n, t, c) in enumerate([("fast", 50.0, "true"), ("slow", 80.0, "false"),
                                       ("old", 60.0, None)])])
    table = build_table(runs, spec, study="s")
    assert [table.cell(n, "time_ms").contended for n in ("fast", "slow", "old")] == \
        [True, False, True]
    assert table.best(table.columns[0]) == set()  # one uncontended value: nothing to rank
    md = render(table, "md")
    assert "50 ‡" in md and "**50**" not in md and "80" in md and "**80**" not in md
    assert "‡: time measured while other processes used the machine's cores" in md
    assert "measured by its job on cpu" in md
