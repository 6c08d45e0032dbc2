"""Data-parallel jobs through the local executor: 2 gloo ranks on the CPU under torchrun.

The toy (orchestrator/testing/ddp_toy.py: an MLP without batch-dependent layers, explicit
sampler seed) makes a 2-rank x batch-2 run and a 1-process x batch-4 run the same
computation up to floating-point summation order: the ranks together see the single
process's batch at every step, and DDP's gradient average is the batch mean. The logged
``objective`` is the all-ranks loss. Tolerance: relative 1e-5 per step. Float32 rounding
of a reordered sum of 4 terms is ~1e-7 relative and grows slowly over 16 SGD steps
(measured: <= 7e-7); a real divergence (another batch composition, another LR, a rank
training on its own) shows at step 1 or 2 as a difference of 1e-2 or more.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest
from mlflow.tracking import MlflowClient

from orchestrator.cli import main
from orchestrator.queue import SqliteQueue
from orchestrator.testing.studies import fake_study

pytestmark = pytest.mark.ddp

CONFIG = "orchestrator/testing/configs/ddp_toy_config.py"
RTOL = 1e-5
STEPS = 16  # 32 samples / effective batch 4 x 2 epochs


#: A job of two data-parallel processes on the CPU.
TWO_RANKS = {"gpus_per_job": 0, "procs_per_job": 2, "cpus_per_job": 1}


def study(name: str, extra_profiles: dict[str, Any] | None = None) -> str:
    """The DDP toy, retried once: profile ``two`` (2 ranks x batch 2), ``one`` (1 process x
    batch 4) and ``extra_profiles``."""
    return fake_study(name, base=CONFIG, retries=1, axes={"toy": {"mlp": {}}}, profiles={
        "two": {"resources": TWO_RANKS}, "one": {"patch": {"train_dataloader.batch_size": 4}},
        **(extra_profiles or {})})


def run(study_file: Path, ws: Path, *args: str) -> int:
    return main(["run", str(study_file), "--workspace", str(ws), "--latency-images", "0",
                 *args])


def job_runs(ws: Path, name: str, profile: str) -> list:
    client = MlflowClient(f"sqlite:///{ws}/mlflow.db")
    exp = client.get_experiment_by_name(name)
    return client.search_runs([exp.experiment_id], f"tags.`cm.role` = 'job' and "
                                                   f"tags.`cm.profile` = '{profile}'")


def objective(ws: Path, run_id: str) -> dict[int, float]:
    """step -> the last logged value (a resumed attempt re-logs the steps it repeats)."""
    client = MlflowClient(f"sqlite:///{ws}/mlflow.db")
    hist = sorted(client.get_metric_history(run_id, "objective"),
                  key=lambda m: (m.step, m.timestamp))
    return {m.step: m.value for m in hist}


def assert_close(a: dict[int, float], b: dict[int, float]) -> float:
    assert sorted(a) == sorted(b) == list(range(1, STEPS + 1))
    worst = max(abs(a[s] - b[s]) / abs(b[s]) for s in a)
    assert worst <= RTOL, {s: (a[s], b[s]) for s in a}
    return worst


def no_survivors(work: Path) -> list[psutil.Process]:
    """Processes still running this job (ranks, torchrun)."""
    out = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if any(str(work) in str(x) for x in p.info["cmdline"] or []):
                out.append(p)
        except psutil.Error:
            continue
    return out


def test_two_gloo_ranks_match_one_process_with_the_same_effective_batch(
        write_study, workspace, capsys):
    ws = workspace
    path = write_study(study("ddp"))
    assert run(path, ws, "--profile", "two") == 0, capsys.readouterr().out
    assert run(path, ws, "--profile", "one") == 0, capsys.readouterr().out

    (two,) = job_runs(ws, "ddp", "two")  # one MLflow run for the 2-rank job
    (one,) = job_runs(ws, "ddp", "one")
    worst = assert_close(objective(ws, two.info.run_id), objective(ws, one.info.run_id))
    print(f"DDP loss agreement: max relative difference {worst:.2e} over {STEPS} steps")
    params = two.data.params
    assert params["cm.world_size"] == "2" and params["cm.images_per_gpu"] == "2"
    assert params["cm.effective_batch"] == "4"
    assert one.data.params["cm.world_size"] == "1"
    assert one.data.params["cm.effective_batch"] == "4"
    for r in (two, one):
        assert r.info.status == "FINISHED" and "test/toy/mse" in r.data.metrics
    # Rank 0 alone writes: one set of checkpoints, one result, one metrics file.
    job_id = two.data.tags["cm.job_hash"]
    work = ws / "jobs" / job_id
    assert sorted(p.name for p in work.glob("*.pth")) == ["epoch_1.pth", "epoch_2.pth"]
    assert json.loads((work / "result.json").read_text())["job_id"] == job_id
    log = (work / "worker.log").read_text()
    assert log.count(f"=== job {job_id} attempt 1") == 2  # each rank announces itself


def test_a_killed_rank_fails_the_attempt_and_the_retry_resumes(write_study, workspace,
                                                               capsys):
    """Rank 1 SIGKILLs itself in epoch 2 on the first attempt: torchrun stops rank 0, the
    job fails cleanly (no survivor), the retry resumes from epoch 1's checkpoint and ends
    with the same losses as an uninterrupted run."""
    ws = workspace
    path = write_study(study("ddp-kill", {"two-kill": {
        "resources": TWO_RANKS, "patch": {"+model.fail_rank": 1, "+model.fail_iter": 12}}}))
    assert run(path, ws, "--profile", "two-kill") == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert "FAILED" in out and "retrying (attempt 2/2)" in out

    (killed,) = job_runs(ws, "ddp-kill", "two-kill")
    job_id = killed.data.tags["cm.job_hash"]
    work = ws / "jobs" / job_id
    assert (work / "toy-killed-once").read_text().startswith("rank 1 killed at 12")
    assert SqliteQueue(ws / "queue.db").get(job_id).attempts == 2
    assert not no_survivors(work)
    log = (work / "worker.log").read_text()
    assert "kills itself at iteration 12" in log
    # Each rank runs 8 iterations an epoch: iteration 12 is in epoch 2, after epoch_1.pth.
    assert "resumed" in log.lower() and "epoch_1.pth" in log
    assert killed.info.status == "FINISHED" and killed.data.tags["cm.attempts"] == "2"
    assert sorted(p.name for p in work.glob("*.pth")) == ["epoch_1.pth", "epoch_2.pth"]

    assert run(path, ws, "--profile", "one") == 0
    (one,) = job_runs(ws, "ddp-kill", "one")
    assert_close(objective(ws, killed.info.run_id), objective(ws, one.info.run_id))


@pytest.mark.gpu
def test_two_nccl_ranks_on_two_gpus(write_study, workspace, capsys):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available() or torch.cuda.device_count() < 2:
        pytest.skip("needs 2 CUDA GPUs (NCCL wants one GPU per rank)")
    ws = workspace
    path = write_study(study("ddp-gpu", {"gpu2": {"resources": {"gpus_per_job": 2,
                                                                "cpus_per_job": 1}}}))
    assert run(path, ws, "--profile", "gpu2") == 0, capsys.readouterr().out
    (two,) = job_runs(ws, "ddp-gpu", "gpu2")
    assert two.data.params["cm.world_size"] == "2"
    work = ws / "jobs" / two.data.tags["cm.job_hash"]
    assert "nccl" in (work / "worker.log").read_text().lower()


def test_ray_runs_a_jobs_ranks_in_one_task(ray_executor, tmp_path):
    """procs=2 on Ray: one task holding 2 CPUs runs both ranks under torchrun."""
    from orchestrator.executors import Launch

    from .test_executor_contract import wait_all

    # One write(2) per line: both ranks share the log, and print() writes word by word.
    code = ("import os; e = os.environ; os.write(1, "
            "f\"rank {e['RANK']} {e['WORLD_SIZE']} {e['CM_LAUNCHER']}\\n\".encode())")
    log = tmp_path / "ray2.log"
    ray_executor.submit(Launch("ray2", [sys.executable, "-c", code], log=log, cwd=tmp_path,
                               procs=2))
    out = wait_all(ray_executor, 120)
    assert out["ray2"].returncode == 0, log.read_text()
    ranks = sorted(x for x in log.read_text().splitlines() if x.startswith("rank"))
    assert ranks == ["rank 0 2 pytorch", "rank 1 2 pytorch"]


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_several_nodes_need_slurm_and_nothing_is_queued(write_study, workspace, capsys,
                                                        executor):
    path = write_study(study("ddp-nodes", {"nodes": {"resources": {
        "gpus_per_job": 0, "procs_per_job": 2, "nodes_per_job": 2}}}))
    assert main(["run", str(path), "--workspace", str(workspace), "--profile", "nodes",
                 "--executor", executor]) == 2
    out = capsys.readouterr().out
    assert f"the {executor} executor runs a job on one machine" in out
    assert "nodes_per_job: 2 needs --executor slurm" in out
    assert not (workspace / "queue.db").exists()
