"""The Slurm executor against a real one-node Slurm cluster (tests/slurm_cluster.py).

The executor contract suite (test_executor_contract.py) runs here again with the
``executor`` fixture overridden by a :class:`SlurmExecutor`; the tests below add what only a
detached executor has: handles, adoption by a fresh executor, ``scancel``, sbatch options,
requeue, and ``srun`` ranks.
"""
from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from slurm_cluster import SlurmCluster, slurm_cluster  # noqa: F401  (the fixture)

from orchestrator.executors import Executor, make_executor
from orchestrator.executors.slurm import SlurmExecutor, describe_handles, query

from .test_executor_contract import (  # noqa: F401  (collected here, run on Slurm)
    launch,
    test_cancel_kills_the_job_and_reports_it,
    test_concurrency_is_bounded,
    test_success_failure_and_crash_are_outcomes,
    test_threads_follow_cpus,
    wait_all,
)

pytestmark = pytest.mark.slurm


@pytest.fixture
def executor(slurm_cluster: SlurmCluster) -> Iterator[Executor]:  # noqa: F811
    ex = SlurmExecutor(parallel=2, poll_s=0.2)
    yield ex
    for job_id in ex.running():
        ex.cancel(job_id)
    wait_all(ex, 30)


def _wait_for(path: Path, text: str, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and text in path.read_text():
            return
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in {path} after {timeout} s: "
                         f"{path.read_text() if path.exists() else '(no file)'}")


def test_jobs_outlive_the_executor_and_are_adopted_by_id(executor, tmp_path):
    """A detached job survives its executor; a fresh executor adopts it from the handle."""
    job = launch(tmp_path, "keep", "import time; print('up', flush=True); time.sleep(2); "
                                   "print('finished', flush=True)")
    executor.submit(job)
    handle = executor.handle("keep")
    assert handle is not None and handle.startswith("slurm:")
    _wait_for(job.log, "up")
    executor.shutdown()  # detached: leaves the job running
    sid = handle.split(":")[1]
    assert query([sid])[sid].state == "RUNNING"
    fresh = SlurmExecutor(poll_s=0.2)
    assert fresh.adopt(job, handle)
    assert fresh.running() == ["keep"]
    out = wait_all(fresh, 30)
    assert out["keep"].returncode == 0 and not out["keep"].cancelled
    assert out["keep"].device.startswith(f"slurm:{sid}@")
    assert job.log.read_text().count("finished") == 1  # ran once
    # A handle Slurm never had is not adopted (the scheduler then submits the job again).
    assert not fresh.adopt(launch(tmp_path, "ghost", "pass"), "slurm:999999")


def test_status_names_state_and_node(executor, tmp_path, slurm_cluster):  # noqa: F811
    job = launch(tmp_path, "st", "import time; print('up', flush=True); time.sleep(30)")
    executor.submit(job)
    _wait_for(job.log, "up")
    handle = executor.handle("st")
    assert describe_handles({"st": handle})["st"] == (
        f"slurm {handle.split(':')[1]} RUNNING on {slurm_cluster.node}")
    executor.cancel("st")
    out = wait_all(executor, 20)
    assert out["st"].cancelled


def test_requeue_restarts_the_job_under_the_same_id(executor, tmp_path):
    """A pre-empted job (``scontrol requeue``) runs again under its id and is reported once."""
    marker = tmp_path / "runs.txt"
    code = (f"import time; open({str(marker)!r}, 'a').write('run\\n'); "
            "print('up', flush=True); time.sleep(1.5 if "
            f"len(open({str(marker)!r}).read().split()) > 1 else 60)")
    job = launch(tmp_path, "pre", code)
    executor.submit(job)
    _wait_for(job.log, "up")
    sid = executor.handle("pre").split(":")[1]  # type: ignore[union-attr]
    subprocess.run(["scontrol", "requeue", sid], check=True, capture_output=True)
    # Slurm holds a requeued job back for 2 minutes (BeginTime); the test lets it go now.
    deadline = time.time() + 20
    while query([sid])[sid].reason != "BeginTime" and time.time() < deadline:
        time.sleep(0.2)
    subprocess.run(["scontrol", "update", f"JobId={sid}", "StartTime=now"], check=True,
                   capture_output=True)
    out = wait_all(executor, 60)
    assert out["pre"].returncode == 0
    assert marker.read_text().split() == ["run", "run"]


def test_sbatch_options_reach_the_script(tmp_path, slurm_cluster):  # noqa: F811
    ex = make_executor("slurm", partition="debug", time="0:10:00", mem="100M",
                       sbatch=["--comment=cm-test"], poll_s=0.2)
    job = launch(tmp_path, "opt", "import os; print(os.environ['SLURM_JOB_PARTITION'])")
    script = ex.script(job)  # type: ignore[attr-defined]
    for line in ("#SBATCH --partition=debug", "#SBATCH --time=0:10:00", "#SBATCH --mem=100M",
                 "#SBATCH --comment=cm-test", "#SBATCH --requeue",
                 "srun --kill-on-bad-exit=1"):
        assert line in script
    ex.submit(job)
    out = wait_all(ex, 30)
    assert out["opt"].returncode == 0
    assert job.log.read_text().strip() == "debug"


@pytest.mark.ddp
def test_ranks_run_under_srun_and_one_dead_rank_ends_all(executor, tmp_path):
    """procs=2 -> two srun tasks with SLURM_PROCID 0/1; a failing rank kills its peer."""
    # One write(2) per line: both ranks share the log, and print() writes word by word.
    code = ("import os; e = os.environ; os.write(1, f\"rank {e['SLURM_PROCID']} "
            "{e['SLURM_NTASKS']} {e['CM_LAUNCHER']} {e['MASTER_PORT']}\\n\".encode())")
    job = launch(tmp_path, "two", code, procs=2)
    executor.submit(job)
    out = wait_all(executor, 30)
    assert out["two"].returncode == 0
    lines = sorted(x for x in job.log.read_text().splitlines() if x.startswith("rank"))
    assert [x.split()[:4] for x in lines] == [["rank", "0", "2", "slurm"],
                                              ["rank", "1", "2", "slurm"]]
    dead = launch(tmp_path, "dead", "import os, sys, time; r = os.environ['SLURM_PROCID']; "
                  "print('rank', r, flush=True); time.sleep(0.5); "
                  "sys.exit(3) if r == '1' else time.sleep(120)", procs=2)
    t0 = time.time()
    executor.submit(dead)
    out = wait_all(executor, 60)
    # Rank 0 would sleep 120 s: ending within 45 s means srun killed it (no hung survivor).
    assert out["dead"].returncode != 0 and time.time() - t0 < 45


def test_no_slurm_clients_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(RuntimeError, match="Slurm clients not found"):
        SlurmExecutor()
