"""``CoresGateHook``: every train/val/test iteration of a job passes the machine-wide
timing gate (:mod:`orchestrator.job.timing_gate`), so a sibling job's ``time_ms`` phase
runs with the cores to itself.

The job process inserts an instance at run time (not through the config), so the job's
``config.py`` never names it.
"""
from __future__ import annotations

from typing import Any

from mmengine.hooks import Hook

from .timing_gate import CoresGate


class CoresGateHook(Hook):
    """Hold the gate's shared lock for the length of each iteration.

    Args:
        gate: The gate (default: the machine-wide one, ``$CM_TIMING_LOCK``).
    """

    priority = "VERY_HIGH"  # enter before, and leave before, every other hook's iteration

    def __init__(self, gate: CoresGate | None = None) -> None:
        self.gate = gate or CoresGate()

    def _enter(self, runner: Any, batch_idx: int, data_batch: Any = None) -> None:
        self.gate.enter_iteration()

    def _leave(self, runner: Any, batch_idx: int, data_batch: Any = None,
               outputs: Any = None) -> None:
        self.gate.leave_iteration()

    before_train_iter = before_val_iter = before_test_iter = _enter
    after_train_iter = after_val_iter = after_test_iter = _leave

    def after_run(self, runner: Any) -> None:
        self.gate.leave_iteration()
