"""The job process: ``python -m orchestrator.job WORK_DIR/job.json``.

One job = one process. It reads ``job.json``, calls the job's *runner* (the callable
``job.json['runner']`` names, ``module:function``, taking the job dict and returning the
final metrics), and forwards the metrics, ``metrics.json`` and the log into the MLflow run
the orchestrator created for the job. On success it writes ``result.json`` and marks the
run finished; a crash leaves a traceback in the log, ``error.json`` and a non-zero exit
status, and the orchestrator takes it from there.

``job.json`` fields: ``job_id``, ``runner`` (default :data:`DEFAULT_RUNNER`, the mmengine
training of :mod:`orchestrator.job.train`), ``options`` (the runner's keyword options: the
config's ``job_runner`` dict without its ``type``), ``config`` (path of the resolved
config), ``work_dir``, ``run_id`` and ``tracking_uri`` (absent without tracking),
``attempt``, ``seed``, ``latency_images``, ``prepared_at``; a search trial adds ``trial``.

This module imports nothing heavy at import time: cheap runners start in a blink.
"""
from __future__ import annotations

import importlib
import json
import math
import os
import sys
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..atomic import write_json
from ..faults import fault_point

RESULT = "result.json"
PROGRESS = "progress.json"
#: The runner of a job whose config names none: train, test and time an mmengine config.
DEFAULT_RUNNER = "orchestrator.job.train:run"




def job_client(job: Mapping[str, Any]) -> Any:
    if not job.get("run_id"):
        return None
    from mlflow.tracking import MlflowClient

    return MlflowClient(job["tracking_uri"])


def _log_final(job: Mapping[str, Any], metrics: Mapping[str, float],
               extra_files: list[Path]) -> None:
    """Log the final metrics and artifacts into the job's run (idempotent on a rerun)."""
    client = job_client(job)
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


def close_succeeded_run(client: Any, run_id: str) -> None:
    """Mark the run succeeded and FINISHED, unless it already is (safe to repeat).

    The job process does it after ``result.json``; the orchestrator does it again when it
    records the success, so a kill between the two never leaves a finished job's run open.
    """
    run = client.get_run(run_id)
    if run.data.tags.get("cm.status") != "succeeded":
        client.set_tag(run_id, "cm.status", "succeeded")
    if run.info.status != "FINISHED":
        client.set_terminated(run_id, "FINISHED")


#: Exception types that come back on every attempt: the job fails without a retry.
DETERMINISTIC = frozenset({"FloatingPointError", "AnnotationError", "DeterministicJobError"})


class DeterministicJobError(RuntimeError):
    """A failure a retry would repeat (the config does not build, the data is bad).

    A runner raises it (``raise DeterministicJobError(...) from exc``); the orchestrator
    then records the job failed without using another attempt.
    """


def deterministic(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is in :data:`DETERMINISTIC`."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if any(t.__name__ in DETERMINISTIC for t in type(cur).__mro__):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def resolve_runner(name: str) -> Any:
    """The callable ``module:function`` names (``job.json['runner']``)."""
    module, _, attr = name.partition(":")
    if not attr:
        raise ValueError(f"job runner {name!r} is not 'module:function'")
    return getattr(importlib.import_module(module), attr)


def _system_metrics(job: Mapping[str, Any]) -> Any:
    """MLflow's system metrics monitor on the job's run, when the run asked for it
    (``system_metrics`` in job.json): CPU, memory, disk, network and GPU as ``system/...``
    metrics every 10 s (``$MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL``), from this process's
    machine (the node the job runs on)."""
    if not (job.get("system_metrics") and job.get("run_id")):
        return None
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    monitor = SystemMetricsMonitor(job["run_id"], tracking_uri=job["tracking_uri"])
    monitor.start()
    return monitor


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m orchestrator.job WORK_DIR/job.json", file=sys.stderr)
        return 2
    t_main = time.time()
    job = json.loads(Path(argv[0]).read_text())
    work = Path(job["work_dir"])
    result = work / RESULT
    if result.exists() and json.loads(result.read_text()).get("job_id") == job["job_id"]:
        # Finished before the orchestrator could record it (it was killed): nothing to redo.
        print(f"job {job['job_id']} already finished; see {result}")
        if (client := job_client(job)) is not None:
            close_succeeded_run(client, job["run_id"])
        return 0
    from . import distributed

    # Several ranks (torchrun, srun): each runs the runner; rank 0 alone has the MLflow run.
    job, dist = distributed.join(job)
    print(f"=== job {job['job_id']} attempt {job.get('attempt', 1)} "
          f"started {time.strftime('%Y-%m-%d %H:%M:%S')} pid {os.getpid()}", flush=True)
    fault_point("job.started")
    t0 = time.time()
    monitor = _system_metrics(job)
    try:
        metrics = resolve_runner(job.get("runner") or DEFAULT_RUNNER)(job)
    except BaseException as exc:
        traceback.print_exc()
        write_json(work / "error.json", {"type": type(exc).__name__, "message": str(exc),
                                         "deterministic": deterministic(exc),
                                         "traceback": traceback.format_exc()})
        return 1
    finally:
        if monitor is not None:
            monitor.finish()  # flushes the last samples while the run is still open
    if distributed.leave(dist):  # ranks > 0 end here: rank 0 records the job
        return 0
    t1 = time.time()
    write_json(work / "metrics.json", metrics)
    sys.stdout.flush()
    _log_final(job, metrics, [work / "metrics.json", work / "worker.log"])
    fault_point("job.after_metrics")
    t2 = time.time()
    # From the orchestrator writing job.json (just before it starts the process) to main().
    timing = {"startup_s": t_main - float(job.get("prepared_at", t_main)), "job_s": t1 - t0,
              "finish_s": t2 - t1}
    # result.json first, then the run's state: a kill in between leaves a result the rerun
    # records (and closes the run for) instead of a finished run whose job runs again.
    write_json(result, {"job_id": job["job_id"], "status": "succeeded",
                        "seconds": t2 - t0, "timing": timing, "metrics": metrics})
    print(f"=== job {job['job_id']} succeeded in {time.time() - t0:.1f} s", flush=True)
    fault_point("job.after_result")
    if (client := job_client(job)) is not None:
        close_succeeded_run(client, job["run_id"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
