"""The search's report: trials, best trial and config, parameter importances."""
from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from ..study.configs import dump_config
from .planner import JOB_ATTR, ORPHAN_ATTR, RUN_ATTR, SearchPlan, _fmt, _say, without_hook
from .space import redact

#: Trial user attribute: the trial's MLflow run page, relative to the UI's address
#: (``http://127.0.0.1:5000/`` + ``#/experiments/<id>/runs/<run id>``).
MLFLOW_PAGE_ATTR = "cm.mlflow_run"
#: The class in :mod:`optuna.importance` that evaluates parameter importances: Optuna 5's
#: default, passed explicitly so the report names the one it used and its numbers do not
#: move if a later Optuna changes the default.
IMPORTANCE_EVALUATOR = "PedAnovaImportanceEvaluator"


def best_trial(study: Any) -> Any:
    """Optuna's best trial of ``study`` (:attr:`optuna.Study.best_trial`), or ``None`` when
    no complete trial is better than another.

    Every complete trial scoring the same (say 0 AP: nothing learned in the budget) leaves
    no best one; naming the first of them would present an arbitrary pick as a result, so
    that case is settled here before Optuna is asked.
    """
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not done or (len(done) > 1 and len({t.value for t in done}) == 1):
        return None
    return study.best_trial


def report(sp: SearchPlan, study: Any, say: Any = _say) -> dict[str, Any]:
    """Trials, best trial, importances; writes the search folder. Returns what it wrote."""
    import optuna

    folder = sp.folder
    folder.mkdir(parents=True, exist_ok=True)
    trials = [t for t in study.get_trials(deepcopy=False) if ORPHAN_ATTR not in t.user_attrs]
    names = [p.name for p in sp.spec.params]
    states = [t.state.name for t in trials]
    counts = {s.lower(): states.count(s) for s in ("COMPLETE", "PRUNED", "FAIL", "RUNNING")}
    lines = [f"# Search {sp.study.name} [{sp.profile.name}]", "",
             f"Optuna study `{sp.optuna_name}` in `{redact(sp.storage_url)}`; "
             f"{sp.spec.direction} `test/{sp.spec.metric}`.", "",
             f"Trials: {len(trials)} ({counts['complete']} complete, {counts['pruned']} pruned, "
             f"{counts['fail']} failed, {counts['running']} running).", "",
             "| trial | state | value | " + " | ".join(names) + " | seconds | job |",
             "|---" * (5 + len(names)) + "|"]
    for t in trials:
        secs = t.duration.total_seconds() if t.duration else None
        lines.append(f"| {t.number} | {t.state.name} | "
                     f"{_fmt(t.value) if t.value is not None else ''} | "
                     + " | ".join(_fmt(t.params.get(n, '')) for n in names)
                     + f" | {'' if secs is None else f'{secs:.0f}'} | "
                       f"{t.user_attrs.get(JOB_ATTR, '')} |")
    out: dict[str, Any] = {"counts": counts, "folder": folder}
    done = [t for t in trials if t.state.name == "COMPLETE"]
    best = best_trial(study)
    tied = bool(done) and best is None  # every complete trial has the same value
    if best is not None:
        tree = without_hook(sp.best_config(best.params))
        path = folder / "best_config.py"
        dump_config(tree, path)
        header = (f"# Best trial {best.number} of search {sp.study.name} [{sp.profile.name}]: "
                  f"test/{sp.spec.metric} = {best.value:.6g}\n# params: "
                  + ", ".join(f"{k}={v!r}" for k, v in best.params.items())
                  + "\n# Train it: python tools/train.py " + str(path) + "\n")
        path.write_text(header + path.read_text())
        out.update(best=best, best_config=path)
        lines += ["", f"Best: trial {best.number}, {sp.spec.metric} = {_fmt(best.value)}, "
                      + ", ".join(f"{k} = {_fmt(v)}" for k, v in best.params.items()),
                  f"Best config: `{path}`"]
    elif tied:
        lines += ["", f"No best trial: all {len(done)} complete trials scored "
                      f"{sp.spec.metric} = {_fmt(done[0].value)}, so none is better than "
                      "another (no best config)."]
        (folder / "best_config.py").unlink(missing_ok=True)  # from an earlier report
    else:
        lines += ["", "No trial completed yet: no best config."]
    importances: dict[str, float] = {}
    if tied:
        lines += ["", "Parameter importances: undefined (every complete trial has the same "
                      "value, so no parameter explains any difference)."]
    elif len(done) >= 2 and len(names) >= 1:
        try:
            importances = {k: float(v) for k, v in optuna.importance.get_param_importances(
                study, evaluator=getattr(optuna.importance, IMPORTANCE_EVALUATOR)()).items()}
        except Exception as exc:  # noqa: BLE001 - too few or identical trials
            lines += ["", f"Parameter importances: not available ({type(exc).__name__}: "
                          f"{exc})"]
    if importances:
        lines += ["", "Parameter importances (Optuna's default evaluator, "
                      f"{IMPORTANCE_EVALUATOR}, over {len(done)} complete trials):", ""]
        lines += [f"- {k}: {v:.3f}" for k, v in importances.items()]
    elif len(done) < 2 and not tied:
        lines += ["", f"Parameter importances: need at least 2 complete trials "
                      f"({len(done)} so far)."]
    (folder / "importances.json").write_text(json.dumps(importances, indent=1))
    try:
        study.trials_dataframe().to_csv(folder / "trials.csv", index=False)
    except Exception:  # noqa: BLE001 - pandas missing; the report has the table
        pass
    text = "\n".join(lines) + "\n"
    (folder / "report.md").write_text(text)
    out.update(importances=importances, report=folder / "report.md", text=text)
    say(text.rstrip())
    return out


def _log_report(tracker: Any, parent: str, sp: SearchPlan, rep: Mapping[str, Any],
                jobs: Mapping[str, int]) -> None:
    """Trial counts, best value, importances and the report files on the parent run."""
    import mlflow.entities

    now = int(time.time() * 1000)
    metrics = [mlflow.entities.Metric(f"trials_{k}", float(v), now, 0)
               for k, v in rep["counts"].items()]
    metrics += [mlflow.entities.Metric(f"jobs_{k}", float(v), now, 0) for k, v in jobs.items()]
    metrics += [mlflow.entities.Metric(f"importance.{k}", v, now, 0)
                for k, v in rep["importances"].items()]
    best = rep.get("best")
    if best is not None:
        metrics.append(mlflow.entities.Metric("best_value", float(best.value), now, 0))
        tracker.client.set_tag(parent, "cm.best_trial", str(best.number))
        run_id = best.user_attrs.get(RUN_ATTR)
        if run_id:
            tracker.client.set_tag(parent, "cm.best_run_id", run_id)
    tracker.client.log_batch(parent, metrics=metrics)
    for name in ("best_config.py", "report.md", "importances.json", "trials.csv"):
        path = sp.folder / name
        if path.exists():
            tracker.client.log_artifact(parent, str(path), artifact_path="search")
    # Failed trials are a result of a search (a diverging learning rate), not its failure.
    tracker.client.set_terminated(parent, "FINISHED")


