"""Fake job runners for the orchestrator's own tests (as ``optuna.testing``).

A test config names one with ``job_runner = dict(type='orchestrator.testing.fake_jobs:run_fake',
epochs=3, step_s=0.1, ...)``; the scheduler copies it into ``job.json`` (``runner`` and
``options``) and the job process calls it instead of an mmengine training. They sleep,
log metrics per epoch, resume from a per-epoch checkpoint in the work dir and can fail on
purpose (exceptions, segfaults, NaN), so the queue, executors, scheduler and MLflow layout
are exercised end to end in seconds.
"""
from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..job.worker import PROGRESS, job_client, write_json
from ..search.trial import TrialPrunedStop, active


def _resume_epoch(ckpt: Path, job: Mapping[str, Any]) -> int:
    """The epoch to resume from: the checkpoint's, when this job wrote it in this work dir
    (a checkpoint of another job or copied from elsewhere is ignored: a fake job that
    "resumed" a finished run would end at once and hide what a test checks)."""
    try:
        data = json.loads(ckpt.read_text())
    except (OSError, ValueError):
        return 0
    if data.get("job_id") != job["job_id"] or data.get("work_dir") != str(ckpt.parent):
        return 0
    return int(data.get("epoch", 0))


def run_fake(job: Mapping[str, Any]) -> dict[str, float]:
    """A cheap stand-in for training, for the orchestrator's own tests.

    Options (``job["options"]``, the config's ``job_runner`` without its type): ``epochs``
    (default 3), ``step_s`` (sleep per epoch, 0.1),
    ``fail_attempts`` (raise at epoch ``fail_epoch`` (default 1) on attempts <= this, 0),
    ``crash`` (``segv`` | ``exit`` at ``fail_epoch`` on the first attempt), ``nan`` (raise
    FloatingPointError), ``via`` (``client`` logs with MlflowClient, ``visbackend`` through
    the orchestrator's mmengine vis backend).
    Resumes from ``fake_ckpt.json`` like a real job resumes from its checkpoint, and logs
    each epoch's metrics once across attempts.
    """
    fake = dict(job.get("options") or {})
    work = Path(job["work_dir"])
    ckpt = work / "fake_ckpt.json"
    start = _resume_epoch(ckpt, job)
    epochs = int(fake.get("epochs", 3))
    attempt = int(job.get("attempt", 1))
    backend = None
    if job.get("run_id") and fake.get("via") == "visbackend":
        from ..job.mmengine_plugins import CMMLflowVisBackend

        backend = CMMLflowVisBackend(save_dir=str(work / "vis"), run_id=job["run_id"],
                                     tracking_uri=job["tracking_uri"])
    client = job_client(job) if backend is None else None
    seed = int(job.get("seed", 0))
    fail_epoch = int(fake.get("fail_epoch", 1))
    if start:
        print(f"resuming from epoch {start}", flush=True)
    for epoch in range(start + 1, epochs + 1):
        time.sleep(float(fake.get("step_s", 0.1)))
        if epoch == fail_epoch and attempt <= int(fake.get("fail_attempts", 0)):
            raise RuntimeError(f"fake failure at epoch {epoch}, attempt {attempt}")
        if fake.get("crash") and epoch == fail_epoch and attempt == 1:
            sys.stdout.flush()
            if fake["crash"] == "segv":
                import signal

                os.kill(os.getpid(), signal.SIGSEGV)
            os._exit(3)
        if fake.get("nan"):
            raise FloatingPointError(f"loss is nan at epoch {epoch}")
        values = {"loss": 1.0 / epoch, "coco/segm_mAP": 0.1 * epoch + 0.001 * seed}
        if backend is not None:
            backend.add_scalars(values, step=epoch)
        elif client is not None:
            import mlflow.entities

            now = int(time.time() * 1000)
            client.log_batch(job["run_id"], metrics=[
                mlflow.entities.Metric(k, v, now, epoch) for k, v in values.items()])
        write_json(ckpt, {"epoch": epoch, "job_id": job["job_id"], "work_dir": str(work)})
        write_json(work / PROGRESS, {"epoch": epoch, "max_epochs": epochs,
                                     "updated": time.time()})
    if backend is not None:
        backend.close()
    return {"test/coco/segm_mAP": 0.1 * epochs + 0.001 * seed, "params_m": 1.0}


def fake_objective(fake: Mapping[str, Any], epoch: int) -> float:
    """Validation value of a fake trial after ``epoch`` epochs (best at x=0.3, y=0)."""
    x, y = float(fake.get("x", 0.0)), float(fake.get("y", 0.0))
    epochs = int(fake.get("epochs", 3))
    return (1.0 - (x - 0.3) ** 2 - 0.1 * y * y) * epoch / epochs


def run_fake_trial(job: Mapping[str, Any]) -> dict[str, float]:
    """A fake training that reports ``fake_objective`` each epoch to the trial.

    Options (``job["options"]``): ``epochs`` (3), ``step_s`` (sleep per epoch, 0.1), ``x``, ``y``
    (the objective's inputs), ``nan_above`` (a NaN loss, i.e. ``FloatingPointError``, when
    ``x`` exceeds it). The reported metric is the search's (``job["trial"]["metric"]``).
    """
    fake = dict(job.get("options") or {})
    work = Path(job["work_dir"])
    ckpt = work / "fake_ckpt.json"
    start = _resume_epoch(ckpt, job)
    epochs = int(fake.get("epochs", 3))
    metric = str((job.get("trial") or {}).get("metric", "coco/segm_mAP"))
    client = job_client(job)
    trial = active()
    if start:
        print(f"resuming from epoch {start}", flush=True)
    value = 0.0
    for epoch in range(start + 1, epochs + 1):
        time.sleep(float(fake.get("step_s", 0.1)))
        if "nan_above" in fake and float(fake.get("x", 0.0)) > float(fake["nan_above"]):
            raise FloatingPointError(f"loss is nan at epoch {epoch} (x={fake.get('x')})")
        value = fake_objective(fake, epoch)
        if client is not None:
            import mlflow.entities

            now = int(time.time() * 1000)
            client.log_batch(job["run_id"], metrics=[
                mlflow.entities.Metric(metric, value, now, epoch),
                mlflow.entities.Metric("loss", 1.0 - value, now, epoch)])
        write_json(ckpt, {"epoch": epoch, "job_id": job["job_id"], "work_dir": str(work)})
        write_json(work / PROGRESS, {"epoch": epoch, "max_epochs": epochs,
                                                   "updated": time.time()})
        if trial is not None and trial.report(epoch, value):
            print(f"trial {trial.number} pruned at epoch {epoch} ({metric} = {value:.4f})",
                  flush=True)
            return TrialPrunedStop(epoch, value).metrics()
    return {f"test/{metric}": value, "params_m": 1.0}
