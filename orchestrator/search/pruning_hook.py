"""``OptunaPruningHook``: per-epoch validation metrics -> the Optuna trial; stop when pruned.

A search adds this hook to every trial's config (with ``custom_imports`` of this module).
After each validation it reports ``metrics[metric]`` at the step ``runner.epoch`` (epochs
completed; ``runner.iter`` for iteration-based loops) to the job's trial
(:func:`orchestrator.search.trial.active`) and asks the study's pruner. When the pruner
says stop, training ends cleanly at the end of this validation (``stop_training``: the
epoch's checkpoint and the logs are written as usual) and the final test is skipped: the
hook raises :class:`~orchestrator.search.trial.TrialPrunedStop` when the test begins,
which the job process turns into a *pruned* result.

Outside a search (the trial config run by hand with ``tools/train.py``) the hook does
nothing.
"""
from __future__ import annotations

import math
from typing import Any

from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner import EpochBasedTrainLoop

from .trial import TrialPrunedStop, active


@HOOKS.register_module()
class OptunaPruningHook(Hook):
    """Report validation metrics to the active Optuna trial and stop pruned trainings.

    Args:
        metric: Key of the validation metric (``coco/segm_mAP``), as the evaluator returns it.
    """

    priority = "LOW"

    def __init__(self, metric: str) -> None:
        self.metric = metric
        self._pruned: tuple[int, float] | None = None
        self._warned = False

    def after_val_epoch(self, runner: Any, metrics: dict[str, float] | None = None) -> None:
        trial = active()
        if trial is None or self._pruned is not None:
            return
        value = (metrics or {}).get(self.metric)
        if value is None:
            if not self._warned:
                runner.logger.warning(f"OptunaPruningHook: no {self.metric!r} in the "
                                      f"validation metrics {sorted(metrics or {})}; nothing "
                                      "reported to the trial")
                self._warned = True
            return
        value = float(value)
        loop = runner.train_loop
        step = runner.epoch if isinstance(loop, EpochBasedTrainLoop) else runner.iter
        # A NaN would poison the pruner's statistics; the job fails on a NaN loss anyway.
        if math.isfinite(value) and trial.report(step, value):
            self._pruned = (step, value)
            loop.stop_training = True
            runner.logger.info(f"Optuna trial {trial.number} pruned at step {step} "
                               f"({self.metric} = {value:.4f}); training stops here")

    def before_test(self, runner: Any) -> None:
        if self._pruned is not None:
            raise TrialPrunedStop(*self._pruned)
