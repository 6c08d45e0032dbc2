"""The trial a job process belongs to: report intermediate values, ask whether to prune.

A search trial is an ordinary job; its ``job.json`` carries a ``trial`` section (Optuna
storage URL, study name, trial number, the pruner spec, the metric). The job
process (:mod:`orchestrator.search.job`) activates it with :func:`activate`; the
mmengine hook (:class:`orchestrator.search.pruning_hook.OptunaPruningHook`) and the fake
trial job then call :meth:`TrialContext.report` after each validation.

The job process talks to the Optuna RDB storage directly: it loads the study with the
search's pruner (pruners are not stored in the database, so the driver passes its spec)
and a ``RandomSampler`` (whose ``before_trial`` does nothing: a grid sampler there would
write grid ids from the job process), finds the trial's storage id from its number and
wraps the existing trial with ``optuna.trial.Trial(study, trial_id)``. ``report`` then
writes the intermediate value and ``should_prune`` runs the pruner over the study's
trials, exactly as in-process Optuna does.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Keys of the metrics a pruned job returns (``metrics.json`` / ``result.json``).
PRUNED_STEP = "trial/pruned_step"
LAST_VALUE = "trial/last_value"


class TrialPrunedStop(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised in the job process to stop a pruned trial before its final test.

    Attributes:
        step: The step (epoch) at which the pruner stopped the trial.
        value: The last reported value.
    """

    def __init__(self, step: int, value: float) -> None:
        super().__init__(f"pruned at step {step} (last value {value})")
        self.step, self.value = step, value

    def metrics(self) -> dict[str, float]:
        return {PRUNED_STEP: float(self.step), LAST_VALUE: float(self.value)}


@dataclass
class TrialContext:
    """One trial seen from its job process (built from ``job.json['trial']``).

    Attributes:
        storage: SQLAlchemy URL of the Optuna storage.
        study: Optuna study name.
        number: Trial number.
        metric: Validation metric to report.
        pruner: Pruner spec (``{"type": "median", ...}``).
    """

    storage: str
    study: str
    number: int
    metric: str
    pruner: Mapping[str, Any]
    pruned: tuple[int, float] | None = None
    _trial: Any = field(default=None, repr=False)

    @classmethod
    def from_job(cls, section: Mapping[str, Any]) -> TrialContext:
        return cls(storage=section["storage"], study=section["study"],
                   number=int(section["number"]),
                   metric=section["metric"], pruner=dict(section["pruner"]))

    def trial(self) -> Any:
        """The ``optuna.trial.Trial`` (loaded on first use)."""
        if self._trial is None:
            import optuna

            from .space import make_pruner, make_storage

            optuna.logging.set_verbosity(optuna.logging.WARNING)
            storage = make_storage(self.storage)
            study = optuna.load_study(study_name=self.study, storage=storage,
                                      sampler=optuna.samplers.RandomSampler(),
                                      pruner=make_pruner(self.pruner))
            trial_id = storage.get_trial_id_from_study_id_trial_number(
                storage.get_study_id_from_name(self.study), self.number)
            self._trial = optuna.trial.Trial(study, trial_id)
        return self._trial

    def report(self, step: int, value: float) -> bool:
        """Report ``value`` at ``step``; ``True`` when the pruner says stop.

        A step reported before (a resumed job repeats its last validation) is not
        written twice; the pruner is asked again all the same.
        """
        import warnings

        trial = self.trial()
        with warnings.catch_warnings():  # "already reported" after a resume is expected
            warnings.simplefilter("ignore")
            trial.report(float(value), int(step))
        if trial.should_prune():
            self.pruned = (int(step), float(value))
            return True
        return False


_ACTIVE: TrialContext | None = None


def activate(section: Mapping[str, Any] | None) -> TrialContext | None:
    """Make the job's trial the active one (``None`` clears it)."""
    global _ACTIVE
    _ACTIVE = TrialContext.from_job(section) if section else None
    return _ACTIVE


def active() -> TrialContext | None:
    """The trial of this job process, or ``None`` outside a search."""
    return _ACTIVE
