"""The job process of a search trial: ``python -m orchestrator.search_worker job.json``.

The same job as :mod:`orchestrator.worker` (same ``job.json``, work dir, MLflow run,
``result.json``), with the trial's Optuna context activated first
(:mod:`orchestrator.search_trial`): the trial config's ``OptunaPruningHook`` reports each
validation to the trial, and a pruned training returns the metrics
``trial/pruned_step`` and ``trial/last_value`` instead of its test metrics. The driver
reads them from ``result.json`` and tells Optuna the trial was pruned.

Fake trial jobs (``fake_job`` in the config; the orchestrator's tests) compute a cheap
deterministic objective of the config's ``fake_job.x`` and ``fake_job.y`` per epoch, report
it like a real training and honour pruning, resuming from a per-epoch checkpoint.
"""
from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import worker
from .search_trial import TrialPrunedStop, activate, active


def fake_objective(fake: Mapping[str, Any], epoch: int) -> float:
    """Validation value of a fake trial after ``epoch`` epochs (best at x=0.3, y=0)."""
    x, y = float(fake.get("x", 0.0)), float(fake.get("y", 0.0))
    epochs = int(fake.get("epochs", 3))
    return (1.0 - (x - 0.3) ** 2 - 0.1 * y * y) * epoch / epochs


def run_fake_trial(job: Mapping[str, Any]) -> dict[str, float]:
    """A fake training that reports ``fake_objective`` each epoch to the trial.

    ``job["fake"]`` keys: ``epochs`` (3), ``step_s`` (sleep per epoch, 0.1), ``x``, ``y``
    (the objective's inputs), ``nan_above`` (a NaN loss, i.e. ``FloatingPointError``, when
    ``x`` exceeds it), ``metric`` (name of the reported metric, ``coco/segm_mAP``).
    """
    fake = dict(job.get("fake") or {})
    work = Path(job["work_dir"])
    ckpt = work / "fake_ckpt.json"
    start = json.loads(ckpt.read_text())["epoch"] if ckpt.exists() else 0
    epochs = int(fake.get("epochs", 3))
    metric = str(fake.get("metric", "coco/segm_mAP"))
    client = worker._client(job)
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
        worker.write_json(ckpt, {"epoch": epoch})
        worker.write_json(work / worker.PROGRESS, {"epoch": epoch, "max_epochs": epochs,
                                                   "updated": time.time()})
        if trial is not None and trial.report(epoch, value):
            print(f"trial {trial.number} pruned at epoch {epoch} ({metric} = {value:.4f})",
                  flush=True)
            return TrialPrunedStop(epoch, value).metrics()
    return {f"test/{metric}": value, "params_m": 1.0}


def run_mmengine_trial(job: Mapping[str, Any]) -> dict[str, float]:
    """:func:`orchestrator.worker.run_mmengine`; a pruned training returns pruned metrics."""
    try:
        return worker.run_mmengine(job)
    except TrialPrunedStop as stop:
        print(f"=== {stop}; final test skipped", flush=True)
        return stop.metrics()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 1 and os.path.exists(argv[0]):
        activate(json.loads(Path(argv[0]).read_text()).get("trial"))
    worker.JOB_TYPES = {**worker.JOB_TYPES, "mmengine": run_mmengine_trial,
                        "fake": run_fake_trial}
    return worker.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())

