"""Study files for tests and measurements, built on the fake configs of ``configs/``."""
from __future__ import annotations

from pathlib import Path

CONFIGS = Path(__file__).parent / "configs"
#: Repository-relative paths of the fake configs (as a study file's ``base:`` names them).
FAKE_CONFIG = "orchestrator/testing/configs/fake_config.py"
SEARCH_FAKE_CONFIG = "orchestrator/testing/configs/search_fake_config.py"


def fake_search_study(name: str, *, n_trials: int, seed: int, epochs: int,
                      step_s: float) -> str:
    """A search over the fake trial job's ``x`` (random sampler, no pruning, profile ``t``)
    whose trials take about ``epochs * step_s`` seconds: slow enough to act on mid-run."""
    return f"""
name: {name}
kind: search
base: {SEARCH_FAKE_CONFIG}
data: none
retries: 2
resources: {{gpus_per_job: 0, cpus_per_job: 1}}
search:
  metric: coco/segm_mAP
  n_trials: {n_trials}
  sampler: {{type: random, seed: {seed}}}
  pruner: none
  space:
    x: {{type: float, low: -1.0, high: 1.0, key: job_runner.x}}
profiles:
  t:
    patch: {{job_runner.epochs: {epochs}, job_runner.step_s: {step_s}}}
"""


def zero_work_study(name: str, n_jobs: int) -> str:
    """An ablation of ``n_jobs`` fake jobs that do no work (profile ``zero``: 0 epochs),
    for measuring the per-job overhead of ``orchestrator run``."""
    levels = "\n".join(f"    j{i}: {{optim_wrapper.optimizer.lr: {0.1 * (i + 2):.1f}}}"
                       for i in range(n_jobs))
    return (f"name: {name}\nbase: {FAKE_CONFIG}\n"
            f"data: none\nresources: {{gpus_per_job: 0, cpus_per_job: 1}}\n"
            f"profiles:\n  zero:\n    patch: {{job_runner.epochs: 0}}\naxes:\n  job:\n{levels}\n")
