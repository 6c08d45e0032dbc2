"""The job process: ``python -m orchestrator.worker WORK_DIR/job.json``.

One job = one process. For an mmengine job it builds mmengine's ``Runner`` from the
resolved config the planner wrote, trains (resuming from the last checkpoint in the work
dir when the job is retried), tests on the val split, and forwards what mmengine does not:
the final test metrics (``test/`` prefix), ``params_m``, ``time_ms``, ``metrics.json`` and the
logs, into the MLflow run the orchestrator created for the job. On success it writes
``result.json`` and marks the run finished; a crash leaves a traceback in the log and a
non-zero exit status, and the orchestrator takes it from there.

``job.json`` fields: ``job_id``, ``type`` (``mmengine`` | ``fake``), ``config`` (path of the
resolved config), ``work_dir``, ``run_id`` and ``tracking_uri`` (absent without tracking),
``attempt``, ``latency_images``, and for fake jobs ``fake`` (see :func:`run_fake`).

This module imports nothing heavy at import time: fake jobs (tests) start in a blink.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

RESULT = "result.json"
PROGRESS = "progress.json"


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Atomic JSON write (readers never see half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    tmp.replace(path)


def _client(job: Mapping[str, Any]) -> Any:
    if not job.get("run_id"):
        return None
    from mlflow.tracking import MlflowClient

    return MlflowClient(job["tracking_uri"])


def _finish_run(job: Mapping[str, Any], metrics: Mapping[str, float],
                extra_files: list[Path]) -> None:
    """Log final metrics/artifacts and mark the run succeeded (the job's last act)."""
    client = _client(job)
    if client is None:
        return
    import mlflow.entities

    now = int(time.time() * 1000)
    batch = [mlflow.entities.Metric(k, float(v), now, 0) for k, v in metrics.items()
             if isinstance(v, int | float) and math.isfinite(float(v))]
    for i in range(0, len(batch), 500):
        client.log_batch(job["run_id"], metrics=batch[i:i + 500])
    for f in extra_files:
        if f.exists():
            client.log_artifact(job["run_id"], str(f),
                                artifact_path="logs" if f.suffix == ".log" else None)
    client.set_tag(job["run_id"], "cm.status", "succeeded")
    client.set_terminated(job["run_id"], "FINISHED")


# --------------------------------------------------------------------------- fake jobs

def run_fake(job: Mapping[str, Any]) -> dict[str, float]:
    """A cheap stand-in for training, for the orchestrator's own tests.

    ``job["fake"]`` keys: ``epochs`` (default 3), ``step_s`` (sleep per epoch, 0.1),
    ``fail_attempts`` (raise at epoch ``fail_epoch`` (default 1) on attempts <= this, 0),
    ``crash`` (``segv`` | ``exit`` at ``fail_epoch`` on the first attempt), ``nan`` (raise
    FloatingPointError), ``via`` (``client`` logs with MlflowClient, ``visbackend`` through
    the orchestrator's mmengine vis backend).
    Resumes from ``fake_ckpt.json`` like a real job resumes from its checkpoint, and logs
    each epoch's metrics once across attempts.
    """
    fake = dict(job.get("fake") or {})
    work = Path(job["work_dir"])
    ckpt = work / "fake_ckpt.json"
    start = json.loads(ckpt.read_text())["epoch"] if ckpt.exists() else 0
    epochs = int(fake.get("epochs", 3))
    attempt = int(job.get("attempt", 1))
    backend = None
    if job.get("run_id") and fake.get("via") == "visbackend":
        from orchestrator.mmengine_plugins import CMMLflowVisBackend

        backend = CMMLflowVisBackend(save_dir=str(work / "vis"), run_id=job["run_id"],
                                     tracking_uri=job["tracking_uri"])
    client = _client(job) if backend is None else None
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
        write_json(ckpt, {"epoch": epoch})
        write_json(work / PROGRESS, {"epoch": epoch, "max_epochs": epochs,
                                     "updated": time.time()})
    if backend is not None:
        backend.close()
    return {"test/coco/segm_mAP": 0.1 * epochs + 0.001 * seed, "params_m": 1.0}


# --------------------------------------------------------------------------- mmengine jobs

def _test_shape(cfg: Any) -> tuple[int, int]:
    """(H, W) network input for the latency measurement, from the test pipeline's Resize.

    A keep-ratio resize to (long, short) gives short x min(long, 1.52 * short) rounded to
    32: 800x1216 for COCO's 1333x800 (the papers' timing size), 600x912 for Lite, 256x256
    for the toy set.
    """
    # The dataloader's pipeline is what runs; the top-level variable may be stale after a
    # profile override.
    ds = cfg.test_dataloader.dataset
    while "pipeline" not in ds and "dataset" in ds:
        ds = ds["dataset"]
    for step in ds.get("pipeline") or cfg.get("test_pipeline") or []:
        if step.get("type") == "Resize" and step.get("scale"):
            long_side, short = max(step["scale"]), min(step["scale"])
            return short, min(long_side, int(round(short * 1.52 / 32)) * 32)
    return 800, 1216


def measure_latency(runner: Any, job: Mapping[str, Any], run_id: str | None,
                    client: Any) -> float | None:
    """Median batch-1 latency (ms) of the trained model with the benchmark harness.

    Uses :func:`centermask_mm.benchmark.measure_latency` (fixed detection count, warm-up,
    median over ``latency_images`` runs) so the tables' Time column is measured the same way
    as ``orchestrator bench``; logs ``time_ms`` and ``cm.time_hardware`` to the run.
    """
    runs = int(job.get("latency_images", 10))
    if runs <= 0:
        return None
    from centermask_mm.benchmark import log_to_mlflow
    from centermask_mm.benchmark import measure_latency as bench_latency

    shape = tuple(job.get("latency_shape") or _test_shape(runner.cfg))
    result = bench_latency(runner.model, shape=shape, runs=runs, warmup=2, stage_runs=0)
    if client is not None and run_id is not None:
        log_to_mlflow(result, run_id, client)
    return float(result["latency_ms"]["median"])


_AP_SUFFIXES = ("", "_50", "_75", "_s", "_m", "_l")


def fill_empty_coco(test: Mapping[str, Any], evaluators: Any) -> tuple[dict[str, Any], bool]:
    """Test metrics with the AP keys of a metric that returned nothing set to 0.0.

    mmdet's ``CocoMetric`` returns no keys at all when the model predicted nothing on the
    whole test set ("The testing results of the whole dataset is empty"); the AP of an empty
    detection set is 0, so the table gets 0.0 rather than a hole. Returns (metrics, whether
    anything was filled); the job process tags the run ``cm.empty_predictions=true`` then.
    """
    out = dict(test)
    filled = False
    for ev in evaluators if isinstance(evaluators, list | tuple) else [evaluators]:
        if not isinstance(ev, Mapping) or "CocoMetric" not in str(ev.get("type")):
            continue
        prefix = ev.get("prefix") or "coco"
        kinds = ev.get("metric", "bbox")
        for kind in [kinds] if isinstance(kinds, str) else kinds:
            keys = [f"{prefix}/{kind}_mAP{s}" for s in _AP_SUFFIXES]
            if kind in ("bbox", "segm") and not any(k in out for k in keys):
                out.update(dict.fromkeys(keys, 0.0))
                filled = True
    return out, filled


def run_mmengine(job: Mapping[str, Any]) -> dict[str, float]:
    """Train, test and measure one resolved mmengine config; returns the final metrics."""
    # The only checkpoints resumed here are the ones this job wrote into its own work dir.
    from centermask_mm.utils import allow_full_checkpoint_load, build_runner

    allow_full_checkpoint_load()
    from mmengine.config import Config

    from orchestrator import mmengine_plugins  # noqa: F401  (registers the hook/backend)

    work = Path(job["work_dir"])
    cfg = Config.fromfile(job["config"])
    cfg.work_dir = str(work)
    cfg.resume = True  # mmengine picks the latest checkpoint in work_dir, if any
    vis = dict(cfg.get("visualizer") or dict(type="DetLocalVisualizer", name="visualizer"))
    backends = [b for b in vis.get("vis_backends") or [dict(type="LocalVisBackend")]
                if "MLflow" not in str(b.get("type"))]
    if job.get("run_id"):
        backends.append(dict(type="CMMLflowVisBackend", run_id=job["run_id"],
                             tracking_uri=job["tracking_uri"]))
    vis["vis_backends"] = backends
    cfg.visualizer = vis
    cfg.custom_hooks = [*(cfg.get("custom_hooks") or []),
                        dict(type="CMProgressHook", path=str(work / PROGRESS),
                             priority="VERY_LOW")]
    runner = build_runner(cfg)  # honours a config's runner_type, as mmdet's tools do
    client = _client(job)
    import torch

    from centermask_mm.benchmark import hardware_info, time_hardware
    from centermask_mm.utils import count_params

    hardware = time_hardware(hardware_info("cuda" if torch.cuda.is_available() else "cpu"))
    if client is not None:
        client.set_tag(job["run_id"], "cm.hardware", hardware)
    runner.train()
    # The trained weights are in memory; without this, test() would "resume" the last
    # checkpoint again (mmengine re-runs load_or_resume when nothing was loaded before).
    runner._has_loaded = True
    test, empty = fill_empty_coco(runner.test() or {}, cfg.get("test_evaluator"))
    if empty and client is not None:
        client.set_tag(job["run_id"], "cm.empty_predictions", "true")
    metrics: dict[str, float] = {}
    for key, value in test.items():
        if isinstance(value, int | float):
            metrics["test/" + key.replace("@", "_at_")] = float(value)
    metrics["params_m"] = count_params(runner.model) / 1e6
    latency = measure_latency(runner, job, job.get("run_id"), client)
    if latency is not None:
        metrics["time_ms"] = latency
    return metrics


JOB_TYPES = {"mmengine": run_mmengine, "fake": run_fake}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m orchestrator.worker WORK_DIR/job.json", file=sys.stderr)
        return 2
    t_main = time.time()
    job = json.loads(Path(argv[0]).read_text())
    work = Path(job["work_dir"])
    result = work / RESULT
    if result.exists() and json.loads(result.read_text()).get("job_id") == job["job_id"]:
        # Finished before the orchestrator could record it (it was killed): nothing to redo.
        print(f"job {job['job_id']} already finished; see {result}")
        return 0
    print(f"=== job {job['job_id']} attempt {job.get('attempt', 1)} "
          f"started {time.strftime('%Y-%m-%d %H:%M:%S')} pid {os.getpid()}", flush=True)
    t0 = time.time()
    try:
        metrics = JOB_TYPES[job.get("type", "mmengine")](job)
    except BaseException as exc:
        traceback.print_exc()
        write_json(work / "error.json", {"type": type(exc).__name__, "message": str(exc),
                                         "traceback": traceback.format_exc()})
        return 1
    t1 = time.time()
    write_json(work / "metrics.json", metrics)
    sys.stdout.flush()
    _finish_run(job, metrics, [work / "metrics.json", work / "worker.log"])
    t2 = time.time()
    # From the orchestrator writing job.json (just before it starts the process) to main().
    timing = {"startup_s": t_main - float(job.get("prepared_at", t_main)), "job_s": t1 - t0,
              "finish_s": t2 - t1}
    write_json(result, {"job_id": job["job_id"], "status": "succeeded",
                        "seconds": t2 - t0, "timing": timing, "metrics": metrics})
    print(f"=== job {job['job_id']} succeeded in {time.time() - t0:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
