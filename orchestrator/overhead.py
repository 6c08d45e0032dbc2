"""Measure the orchestrator's own costs (the numbers in docs/orchestrator.md).

    python -m orchestrator.overhead plan [--jobs 1000] [--base CONFIG]
    python -m orchestrator.overhead jobs [--jobs 10] [--parallel 1]

``plan``: a generated study of three 10-level axes (learning rate x schedule x FCOS head
depth, so 10 distinct models) on a real config, planned twice in one process: cold (empty
workspace caches, 10 model builds on the meta device) and warm (the build cache hit).
Imports (torch, mmdet) and toy-data generation are timed separately; they are paid once
per process or workspace, not per job.

``jobs``: ``--jobs`` jobs that do no work (fake jobs with zero epochs) through the whole
``orchestrator run`` path with MLflow on the workspace's SQLite store: queue claim, work
dir, ``config.py``, MLflow run creation, process start, the job's MLflow set-up and
finish, outcome detection. Their wall time from claim to recorded success *is* the
per-job overhead.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from .workspace import REPO_ROOT

DEFAULT_BASE = "configs/centermask/toy/centermask-lite_v2-19-slim-dw_fpn_toy.py"


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def bench_plan(n_per_axis: int, base: str, workspace: Path) -> dict[str, float]:
    """Plan a n x n x n study twice; returns seconds per stage."""
    t0 = time.perf_counter()
    import mmdet.models  # noqa: F401  (what planning imports anyway)
    import torch  # noqa: F401

    import_s = time.perf_counter() - t0
    from .study.data import resolve_dataset
    from .study.plan import plan_study
    from .study.reader import load_study

    t0 = time.perf_counter()
    resolve_dataset("toy", workspace, REPO_ROOT)
    toy_s = time.perf_counter() - t0
    lrs = "\n".join(f"    lr{i}: {{optim_wrapper.optimizer.lr: {0.0003 * (i + 5):.4f}}}"
                    for i in range(n_per_axis))
    epochs = "\n".join(f"    e{i + 1}: {{train_cfg.max_epochs: {i + 1}}}"
                       for i in range(n_per_axis))
    heads = "\n".join(f"    h{i}: {{model.bbox_head.stacked_convs: {i + 3}}}"
                      for i in range(n_per_axis))
    text = (f"name: plan-bench\nbase: {base}\ndata: toy\naxes:\n  lr:\n{lrs}\n"
            f"  schedule:\n{epochs}\n  head:\n{heads}\n")
    path = workspace / "plan_bench.yaml"
    path.write_text(text)
    study = load_study(path)
    t0 = time.perf_counter()
    plan = plan_study(study, None, workspace=workspace, repo_root=REPO_ROOT)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    plan_study(load_study(path), None, workspace=workspace, repo_root=REPO_ROOT)
    warm = time.perf_counter() - t0
    return {"jobs": len(plan.jobs), "import_s": import_s, "toy_data_s": toy_s,
            "plan_cold_s": cold, "plan_warm_s": warm, **{
                f"cold_{k}": v for k, v in plan.seconds.items()}}


def bench_jobs(n_jobs: int, parallel: int, workspace: Path) -> dict[str, float]:
    """Run zero-work jobs through ``orchestrator run``; returns per-job medians (s)."""
    from .cli import main
    from .queue import SqliteQueue
    from .testing.studies import zero_work_study

    path = workspace / "jobs_bench.yaml"
    path.write_text(zero_work_study("overhead", n_jobs))
    t0 = time.perf_counter()
    rc = main(["run", str(path), "--workspace", str(workspace), "--parallel", str(parallel)])
    total = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(f"overhead run failed (exit {rc})")
    jobs = SqliteQueue(workspace / "queue.db").jobs("overhead")
    timing = [json.loads((workspace / "jobs" / j.job_id / "result.json").read_text())[
        "timing"] for j in jobs]
    return {"jobs": len(jobs), "parallel": parallel, "run_total_s": total,
            "per_job_claim_to_done_s": _median([j.duration or 0.0 for j in jobs]),
            "process_start_to_main_s": _median([t["startup_s"] for t in timing]),
            "job_mlflow_setup_s": _median([t["job_s"] for t in timing]),
            "job_mlflow_finish_s": _median([t["finish_s"] for t in timing])}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    pp = sub.add_parser("plan")
    pp.add_argument("--jobs", type=int, default=1000, help="about this many jobs (n^3)")
    pp.add_argument("--base", default=DEFAULT_BASE)
    pj = sub.add_parser("jobs")
    pj.add_argument("--jobs", type=int, default=10)
    pj.add_argument("--parallel", type=int, default=1)
    for q in (pp, pj):
        q.add_argument("--workspace", type=Path, default=None,
                       help="default: a fresh temporary directory")
    a = p.parse_args(argv)
    ws = a.workspace or Path(tempfile.mkdtemp(prefix=f"orch-{a.what}-"))
    ws.mkdir(parents=True, exist_ok=True)
    if a.what == "plan":
        n = max(1, round(a.jobs ** (1 / 3)))
        result = bench_plan(n, a.base, ws)
    else:
        result = bench_jobs(a.jobs, a.parallel, ws)
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v
                      for k, v in result.items()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
