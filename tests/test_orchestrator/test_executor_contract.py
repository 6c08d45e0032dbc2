"""One contract suite for every executor (see orchestrator/executors/_base.py).

The jobs are tiny Python one-liners, so the suite checks process semantics (logs, exit
status, crash isolation, cancel, concurrency limit) without training anything. Ray is
started once for the module (a local Ray with 2 CPUs, ~3-5 s).
"""
from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.executors import Executor, Launch, Outcome
from orchestrator.executors.local import LocalExecutor

EXECUTORS = ["local", "ray"]


@pytest.fixture(params=EXECUTORS)
def executor(request) -> Iterator[Executor]:
    if request.param == "ray":
        ray_executor = request.getfixturevalue("ray_executor")
        yield ray_executor
        for job_id in ray_executor.running():  # leave the shared executor clean
            ray_executor.cancel(job_id)
        wait_all(ray_executor, 10)
    else:
        ex = LocalExecutor(parallel=2, gpus=[])
        yield ex
        ex.shutdown()


def launch(tmp_path: Path, job_id: str, code: str, **kw) -> Launch:
    return Launch(job_id, [sys.executable, "-c", code], log=tmp_path / f"{job_id}.log",
                  cwd=tmp_path, **kw)


def wait_all(ex: Executor, timeout: float = 60.0) -> dict[str, Outcome]:
    out: dict[str, Outcome] = {}
    deadline = time.time() + timeout
    while ex.running() and time.time() < deadline:
        out.update({o.job_id: o for o in ex.poll()})
        time.sleep(0.05)
    out.update({o.job_id: o for o in ex.poll()})
    assert not ex.running(), f"jobs still running after {timeout} s"
    return out


def test_success_failure_and_crash_are_outcomes(executor, tmp_path):
    executor.submit(launch(tmp_path, "ok", "import os; print('hello', os.environ['X'])",
                           env={"X": "42"}))
    executor.submit(launch(tmp_path, "boom", "raise ValueError('bad config')"))
    out = wait_all(executor)
    executor.submit(launch(tmp_path, "segv", "import os, signal; os.kill(os.getpid(), "
                                             "signal.SIGSEGV)"))
    out.update(wait_all(executor))
    assert out["ok"].returncode == 0 and not out["ok"].cancelled
    assert "hello 42" in (tmp_path / "ok.log").read_text()
    assert out["boom"].returncode == 1
    log = (tmp_path / "boom.log").read_text()
    assert "Traceback" in log and "ValueError: bad config" in log
    assert out["segv"].returncode == -11  # a crash is an outcome, never an exception
    assert executor.poll() == []  # each outcome is reported once


def test_threads_follow_cpus(executor, tmp_path):
    executor.submit(launch(tmp_path, "t", "import os; print(os.environ['OMP_NUM_THREADS'])",
                           cpus=1))
    wait_all(executor)
    assert (tmp_path / "t.log").read_text().strip() == "1"


def test_concurrency_is_bounded(executor, tmp_path):
    code = ("import time, sys; t = time.time(); time.sleep(0.6); "
            "open(sys.argv[0] if False else {path!r}, 'a').write(f'{{t}} {{time.time()}}\\n')")
    stamps = tmp_path / "stamps.txt"
    pending = [launch(tmp_path, f"j{i}", code.format(path=str(stamps))) for i in range(4)]
    started = 0
    deadline = time.time() + 60
    while (pending or executor.running()) and time.time() < deadline:
        while pending and executor.can_start(pending[0]):
            executor.submit(pending.pop(0))
            started += 1
        assert len(executor.running()) <= 2
        executor.poll()
        time.sleep(0.05)
    assert started == 4
    spans = [tuple(map(float, line.split())) for line in stamps.read_text().splitlines()]
    assert len(spans) == 4
    for t, _ in spans:  # at no start time were more than 2 jobs inside their span
        assert sum(1 for a, b in spans if a <= t < b) <= 2
    with pytest.raises(RuntimeError, match="no free slot"):
        for i in range(3):
            executor.submit(launch(tmp_path, f"x{i}", "import time; time.sleep(5)"))


def test_cancel_kills_the_job_and_reports_it(executor, tmp_path):
    code = ("import subprocess, sys, time; "
            "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
            "print('up', flush=True); time.sleep(60)")
    executor.submit(launch(tmp_path, "long", code))
    deadline = time.time() + 30
    while "up" not in ((tmp_path / "long.log").read_text() if (tmp_path / "long.log").exists()
                       else "") and time.time() < deadline:
        time.sleep(0.05)
    t0 = time.time()
    executor.cancel("long")
    out = wait_all(executor, 20)
    assert out["long"].cancelled and out["long"].returncode != 0
    assert time.time() - t0 < 15


def test_local_gpu_packing_and_pinning(tmp_path):
    """Fractional jobs share a GPU (one fills before the next); each sees only its GPUs."""
    ex = LocalExecutor(gpus=[0, 1])
    code = "import os, time; print(os.environ['CUDA_VISIBLE_DEVICES']); time.sleep(0.5)"
    halves = [launch(tmp_path, f"h{i}", code, gpus=0.5) for i in range(5)]
    assert ex.slots(halves[0]) == 4
    for h in halves[:4]:
        assert ex.can_start(h)
        ex.submit(h)
    assert not ex.can_start(halves[4])
    wait_all(ex)
    seen = sorted((tmp_path / f"h{i}.log").read_text().strip() for i in range(4))
    assert seen == ["0", "0", "1", "1"]
    # Two GPUs: two data-parallel ranks under torchrun, each seeing both GPUs.
    # One write(2) per line: both ranks share the log, and print() writes word by word.
    ranks = ("import os, time; e = os.environ; os.write(1, f\"{e['CUDA_VISIBLE_DEVICES']} "
             "{e['LOCAL_RANK']} {e['CM_LAUNCHER']}\\n\".encode()); time.sleep(0.5)")
    ex.submit(launch(tmp_path, "two", ranks, gpus=2))
    assert not ex.can_start(launch(tmp_path, "one", code, gpus=1))
    wait_all(ex)
    assert sorted((tmp_path / "two.log").read_text().split("\n")[:2]) == [
        "0,1 0 pytorch", "0,1 1 pytorch"]
    cpu = LocalExecutor(gpus=[], parallel=1)
    cpu.submit(launch(tmp_path, "cpu", "import os; print(repr(os.environ["
                                        "'CUDA_VISIBLE_DEVICES']))", gpus=1))
    wait_all(cpu)
    assert (tmp_path / "cpu.log").read_text().strip() == "''"  # CPU jobs see no GPU
    with pytest.raises(RuntimeError, match="needs 3 GPUs"):
        ex.can_start(launch(tmp_path, "big", code, gpus=3))
