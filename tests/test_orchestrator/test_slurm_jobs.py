"""``orchestrator run --executor slurm`` end to end on the loopback Slurm cluster.

* SIGKILL of the orchestrator while a Slurm job runs: the job keeps running; the rerun
  adopts it by its Slurm id and records it: it ran once, into one MLflow run.
* ``orchestrator cancel`` during a Slurm job: with the orchestrator running (it scancels
  within a heartbeat) and with none running (cancel scancels by the stored handle).
* A 2-rank DDP toy job under ``srun`` (gloo on CPU).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from slurm_cluster import slurm_cluster  # noqa: F401  (the fixture)

from orchestrator.cli import main
from orchestrator.executors import handle_key
from orchestrator.executors.slurm import query
from orchestrator.queue import SqliteQueue
from orchestrator.testing.studies import fake_study, timed_profile
from orchestrator.workspace import REPO_ROOT

pytestmark = pytest.mark.slurm

EPOCHS = 8


def slurm_study(name: str, epochs: int = EPOCHS, step_s: float = 0.5) -> str:
    """One fake job of ``epochs`` x ``step_s`` seconds (profile ``t``), retried twice."""
    return fake_study(name, retries=2, axes={"case": {"a": {}}},
                      profiles=timed_profile(epochs, step_s))


def orchestrator(*args: str) -> list[str]:
    return [sys.executable, "-m", "orchestrator.cli", *args]


def start(study_file: Path, ws: Path, log: Path) -> subprocess.Popen[bytes]:
    cmd = orchestrator("run", str(study_file), "--workspace", str(ws), "--executor", "slurm")
    with open(log, "wb") as f:
        return subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=f, stderr=subprocess.STDOUT)


def running_job(ws: Path, study: str, proc: subprocess.Popen[bytes], log: Path,
                min_epoch: int = 1, timeout: float = 120, not_sid: str | None = None
                ) -> tuple[str, str]:
    """(job id, Slurm id) once the job is running in Slurm (not as ``not_sid``, an earlier
    submission) and has done ``min_epoch``."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, log.read_text()
        time.sleep(0.2)
        if not (ws / "queue.db").exists():
            continue
        queue = SqliteQueue(ws / "queue.db")
        for job in queue.jobs(study, ["running"]):
            handle = queue.get_meta(handle_key(job.job_id))
            ckpt = ws / "jobs" / job.job_id / "fake_ckpt.json"
            if (handle and handle != f"slurm:{not_sid}" and ckpt.exists()
                    and json.loads(ckpt.read_text())["epoch"] >= min_epoch):
                return job.job_id, handle.split(":")[1]
    raise AssertionError(f"no running Slurm job after {timeout} s:\n{log.read_text()}")


def test_sigkill_orchestrator_slurm_job_survives_and_is_adopted(write_study, workspace,
                                                                tmp_path, slurm_cluster):  # noqa: F811
    ws, path = workspace, write_study(slurm_study("adopt"))
    first = start(path, ws, tmp_path / "first.log")
    job_id, sid = running_job(ws, "adopt", first, tmp_path / "first.log", min_epoch=2)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    time.sleep(1.0)
    assert query([sid])[sid].state == "RUNNING"  # the job outlived its orchestrator

    second = subprocess.run(orchestrator("run", str(path), "--workspace", str(ws),
                                         "--executor", "slurm"),
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"adopted {job_id[:8]}" in second.stdout and f"slurm {sid}" in second.stdout
    assert "start   " not in second.stdout  # nothing submitted again
    queue = SqliteQueue(ws / "queue.db")
    rec = queue.get(job_id)
    assert rec.state == "succeeded" and rec.attempts == 1
    work = ws / "jobs" / job_id
    log = (work / "worker.log").read_text()
    assert log.count(f"=== job {job_id} attempt") == 1  # ran exactly once
    assert "resuming from epoch" not in log
    client = MlflowClient(f"sqlite:///{ws}/mlflow.db")
    exp = client.get_experiment_by_name("adopt")
    (run,) = client.search_runs([exp.experiment_id], "tags.`cm.role` = 'job'")
    assert run.info.status == "FINISHED" and run.data.tags["cm.status"] == "succeeded"
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "loss")]
    assert sorted(steps) == list(range(1, EPOCHS + 1))  # every epoch logged once
    third = subprocess.run(orchestrator("run", str(path), "--workspace", str(ws),
                                        "--executor", "slurm"),
                           cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert third.returncode == 0 and "nothing to do" in third.stdout


def test_a_slurm_job_that_ended_while_no_orchestrator_ran_is_recorded(
        write_study, workspace, tmp_path, slurm_cluster):  # noqa: F811
    """Killed orchestrator, the job finishes alone; the rerun adopts the ended Slurm job by
    its handle and records it from its exit status and result.json: nothing runs again."""
    ws = workspace
    path = write_study(slurm_study("alone", epochs=4, step_s=1.0))
    first = start(path, ws, tmp_path / "first.log")
    job_id, sid = running_job(ws, "alone", first, tmp_path / "first.log")
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    deadline = time.time() + 60
    while query([sid])[sid].state != "COMPLETED" and time.time() < deadline:
        time.sleep(0.3)
    assert query([sid])[sid].state == "COMPLETED"
    second = subprocess.run(orchestrator("run", str(path), "--workspace", str(ws),
                                         "--executor", "slurm"),
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"adopted {job_id[:8]}" in second.stdout and "start   " not in second.stdout
    rec = SqliteQueue(ws / "queue.db").get(job_id)
    assert rec.state == "succeeded" and rec.attempts == 1


def test_cancel_during_a_slurm_job(write_study, workspace, tmp_path, slurm_cluster,  # noqa: F811
                                   capsys):
    ws, path = workspace, write_study(slurm_study("cancelme"))
    # 1) An orchestrator runs the study: cancel -> its heartbeat scancels the job.
    first = start(path, ws, tmp_path / "first.log")
    job_id, sid = running_job(ws, "cancelme", first, tmp_path / "first.log")
    t0 = time.time()
    assert main(["cancel", str(path), "--workspace", str(ws)]) == 0
    assert first.wait(60) == 1, (tmp_path / "first.log").read_text()
    assert time.time() - t0 < 30
    assert query([sid])[sid].state == "CANCELLED"
    assert SqliteQueue(ws / "queue.db").get(job_id).state == "cancelled"

    # 2) No orchestrator: cancel scancels the stored Slurm job itself.
    assert main(["retry", str(path), "--workspace", str(ws), "--cancelled"]) == 0
    second = start(path, ws, tmp_path / "second.log")
    job_id2, sid2 = running_job(ws, "cancelme", second, tmp_path / "second.log", not_sid=sid)
    assert job_id2 == job_id
    os.kill(second.pid, signal.SIGKILL)
    second.wait()
    capsys.readouterr()
    assert main(["cancel", str(path), "--workspace", str(ws)]) == 0
    assert f"scancel slurm:{sid2}" in capsys.readouterr().out
    deadline = time.time() + 30
    while query([sid2])[sid2].state != "CANCELLED" and time.time() < deadline:
        time.sleep(0.2)
    assert query([sid2])[sid2].state == "CANCELLED"
    client = MlflowClient(f"sqlite:///{ws}/mlflow.db")
    exp = client.get_experiment_by_name("cancelme")
    (run,) = client.search_runs([exp.experiment_id], "tags.`cm.role` = 'job'")
    assert run.data.tags["cm.status"] == "cancelled"


@pytest.mark.ddp
def test_two_rank_ddp_toy_job_under_srun(write_study, workspace, slurm_cluster,  # noqa: F811
                                         capsys):
    from .test_ddp import CONFIG, TWO_RANKS, job_runs

    ws = workspace
    path = write_study(fake_study("ddp-slurm", base=CONFIG, resources=TWO_RANKS,
                                  axes={"toy": {"mlp": {}}}))
    rc = main(["run", str(path), "--workspace", str(ws), "--latency-images", "0",
               "--executor", "slurm"])
    out = capsys.readouterr().out
    assert rc == 0, out
    (run,) = job_runs(ws, "ddp-slurm", "default")
    assert run.info.status == "FINISHED" and "test/toy/mse" in run.data.metrics
    assert run.data.params["cm.world_size"] == "2"
    work = ws / "jobs" / run.data.tags["cm.job_hash"]
    script = (work / "worker.log.sbatch").read_text()
    assert "#SBATCH --ntasks=2" in script and "srun --kill-on-bad-exit=1" in script
    assert sorted(p.name for p in work.glob("*.pth")) == ["epoch_1.pth", "epoch_2.pth"]
