"""The runner of a search trial's job (job side): ``job.json['runner']`` of every trial.

The same job as any other (same job process, ``job.json``, work dir, MLflow run,
``result.json``), with the trial's Optuna context activated first
(:mod:`orchestrator.search.trial`) and the trial config's own runner
(``job.json['trial']['runner']``, normally the mmengine training) called inside it: the
config's ``OptunaPruningHook`` reports each validation to the trial, and a pruned training
returns the metrics ``trial/pruned_step`` and ``trial/last_value`` instead of its test
metrics. The driver reads them from ``result.json`` and tells Optuna the trial was pruned.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..job.worker import DEFAULT_RUNNER, resolve_runner
from .trial import TrialPrunedStop, activate

#: ``job.json['runner']`` of a trial's job.
TRIAL_RUNNER = "orchestrator.search.job:run_trial"


def run_trial(job: Mapping[str, Any]) -> dict[str, float]:
    """Run the trial's own runner with its trial active; a pruned training returns the
    pruned metrics (:meth:`TrialPrunedStop.metrics`)."""
    section = job.get("trial") or {}
    activate(section or None)
    inner = resolve_runner(section.get("runner") or DEFAULT_RUNNER)
    try:
        return dict(inner(job))
    except TrialPrunedStop as stop:
        print(f"=== {stop}; final test skipped", flush=True)
        return stop.metrics()
