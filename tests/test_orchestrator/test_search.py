"""Search studies: space validation, sampler/pruner selection, a fake search end to end.

The fake trial job (``orchestrator/testing/configs/search_fake_config.py``) reports
``(1 - (x - 0.3)^2 - 0.1 y^2) * epoch / epochs`` after each epoch, so a search over x and y
has a real optimum, pruning has something to compare, and importances are meaningful.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient

from orchestrator.cli import main
from orchestrator.queue import SqliteQueue
from orchestrator.search.planner import plan_search, without_hook
from orchestrator.search.space import make_pruner, make_sampler, parse_search
from orchestrator.study.errors import StudyError
from orchestrator.study.reader import load_study, parse_study
from orchestrator.testing.fake_jobs import fake_objective
from orchestrator.testing.studies import SEARCH_FAKE_CONFIG
from orchestrator.workspace import REPO_ROOT

FAKE = SEARCH_FAKE_CONFIG

SEARCH = f"""
name: fake-search
kind: search
base: {FAKE}
data: none
retries: 1
resources: {{gpus_per_job: 0, cpus_per_job: 1}}
search:
  metric: coco/segm_mAP
  n_trials: 6
  sampler: {{type: tpe, seed: 0, n_startup_trials: 3}}
  pruner: {{type: median, n_startup_trials: 2}}
  space:
    x: {{type: float, low: -1.0, high: 1.0, key: job_runner.x}}
    y: {{type: float, low: 0.01, high: 2.0, log: true, key: job_runner.y}}
    lr: {{type: categorical, choices: [0.01, 0.1], key: optim_wrapper.optimizer.lr}}
profiles:
  t:
    patch: {{+job_runner.nan_above: 0.7}}
"""


def _space(space: str, extra: str = "") -> str:
    """A search study whose space is ``space`` (YAML lines at the parameter level)."""
    body = "\n".join("    " + line for line in space.strip().splitlines())
    return (f"name: bad\nkind: search\nbase: {FAKE}\ndata: none\nsearch:\n"
            f"  metric: coco/segm_mAP\n  n_trials: 2\n{extra}  space:\n{body}\n")


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


# --------------------------------------------------------------------------- validation

@pytest.mark.parametrize(("space", "key", "needle", "message"), [
    ("lr: {type: float, low: 0.01, high: 0.01, key: optim_wrapper.optimizer.lr}",
     "search.space.lr.high", "lr:", "empty range: low == high"),
    ("lr: {type: float, low: 0.1, high: 0.01, key: optim_wrapper.optimizer.lr}",
     "search.space.lr.low", "lr:", "low > high (0.1 > 0.01)"),
    ("lr: {type: float, low: 0.0, high: 0.1, log: true, key: optim_wrapper.optimizer.lr}",
     "search.space.lr.low", "lr:", "log scale needs positive bounds"),
    ("n: {type: int, low: -4, high: 8, log: true, key: job_runner.epochs}",
     "search.space.n.low", "n:", "log scale needs positive bounds"),
    ("lr: {type: categorical, choices: [], key: optim_wrapper.optimizer.lr}",
     "search.space.lr.choices", "lr:", "non-empty list 'choices' (empty range)"),
    ("n: {type: int, low: 2, high: 3, step: 4, key: job_runner.epochs}",
     "search.space.n.step", "n:", "empty range: step 4"),
    ("lr: {type: float, high: 0.1, key: optim_wrapper.optimizer.lr}",
     "search.space.lr", "lr:", "needs 'low'"),
    ("lr: {type: double, low: 0.0, high: 0.1, key: optim_wrapper.optimizer.lr}",
     "search.space.lr.type", "lr:", "type must be one of float, int, categorical"),
    ("lr: {type: float, low: 0.001, high: 0.1}",
     "search.space.lr", "lr:", "needs 'key'"),
])
def test_malformed_space_is_rejected_naming_the_key(write_study, space, key, needle, message):
    path = write_study(_space(space))
    with pytest.raises(StudyError) as err:
        parse_search(load_study(path), load_study(path).profile(None))
    text = str(err.value)
    assert f"{path}:{_line_of(path, needle)}: {key}: " in text, text
    assert message in text


def test_unknown_config_key_is_rejected_before_any_trial(write_study, workspace, capsys):
    path = write_study(_space(
        "lr: {type: float, low: 0.001, high: 0.1, log: true, key: optim_wrapper.optimizer.lrr}\n"
        "x: {type: categorical, choices: [a, b], key: job_runner.x}"))
    rc = main(["run", str(path), "--workspace", str(workspace)])
    out = capsys.readouterr().out
    assert rc == 2, out
    line = _line_of(path, "lr:")
    assert f"{path}:{line}: search.space.lr.key: no key 'optim_wrapper.optimizer.lrr'" in out
    assert "did you mean 'lr'" in out
    # The categorical string on a numeric key is the second problem, on its own line.
    assert "search.space.x.key: type mismatch" in out and "nothing was queued" in out
    assert not (workspace / "optuna.db").exists()
    assert SqliteQueue(workspace / "queue.db").jobs() == []


@pytest.mark.parametrize(("extra", "key", "message"), [
    ("  sampler: annealing\n", "search.sampler", "unknown sampler 'annealing'"),
    ("  sampler: {type: tpe, n_startup: 3}\n", "search.sampler.n_startup",
     "tpe sampler has no argument 'n_startup'"),
    ("  pruner: {type: median, warmup: 1}\n", "search.pruner.warmup",
     "median pruner has no argument 'warmup'"),
    ("  pruner: percentile\n", "search.pruner", "percentile pruner needs 'percentile'"),
    ("  sampler: grid\n", "search.space.lr", "parameter 'lr' is continuous"),
    ("  direction: up\n", "search.direction", "direction must be maximize or minimize"),
    ("  timeout: soon\n", "search.timeout", "timeout is seconds or a duration"),
    ("  storage: optuna.db\n", "search.storage", "SQLAlchemy URL"),
])
def test_bad_search_settings_name_the_key(write_study, extra, key, message):
    path = write_study(_space(
        "lr: {type: float, low: 0.001, high: 0.1, key: optim_wrapper.optimizer.lr}", extra))
    with pytest.raises(StudyError) as err:
        study = load_study(path)
        parse_search(study, study.profile(None))
    assert f": {key}: " in str(err.value) and message in str(err.value), str(err.value)


def test_float_parameter_on_integer_key_and_axes_are_rejected(write_study, workspace):
    text = _space("n: {type: float, low: 1.0, high: 4.0, key: job_runner.epochs}")
    path = write_study(text + "axes:\n  a:\n    b: {}\n")
    with pytest.raises(StudyError) as err:
        plan_search(load_study(path), None, workspace=workspace, repo_root=REPO_ROOT)
    text = str(err.value)
    assert ": axes: a search study has no axes" in text
    path = write_study(_space("n: {type: float, low: 1.0, high: 4.0, key: job_runner.epochs}"))
    with pytest.raises(StudyError) as err:
        plan_search(load_study(path), None, workspace=workspace, repo_root=REPO_ROOT)
    assert "search.space.n.key: job_runner.epochs is an integer (4) in the config; use type: " \
           "int" in str(err.value)


def test_profile_search_overrides_and_ablation_studies_reject_search(write_study):
    study = load_study(write_study(SEARCH.replace(
        "    patch: {+job_runner.nan_above: 0.7}",
        "    search: {n_trials: 2, pruner: none}")))
    spec = parse_search(study, study.profile("t"))
    assert spec.n_trials == 2 and spec.pruner == {"type": "none"}
    assert parse_search(study, study.profile("t")).sampler["seed"] == 0  # the study's
    with pytest.raises(StudyError, match="unknown key 'search'"):
        parse_study("name: a\nbase: x.py\nsearch: {metric: m}\n", "a.yaml")


# --------------------------------------------------------------------------- selection

def test_sampler_and_pruner_selection(write_study):
    def spec_of(extra: str, space: str = "x: {type: float, low: 0.0, high: 1.0, step: 0.25, "
                                         "key: job_runner.x}") -> object:
        study = load_study(write_study(_space(space, extra)))
        return parse_search(study, study.profile(None))

    assert isinstance(make_sampler(spec_of("")), optuna.samplers.TPESampler)  # default
    assert isinstance(make_pruner(spec_of("").pruner), optuna.pruners.MedianPruner)
    assert isinstance(make_sampler(spec_of("  sampler: {type: random, seed: 1}\n")),
                      optuna.samplers.RandomSampler)
    grid = spec_of("  sampler: grid\n", "x: {type: float, low: 0.0, high: 1.0, step: 0.25, "
                                        "key: job_runner.x}\n"
                                        "e: {type: int, low: 2, high: 6, step: 2, "
                                        "key: job_runner.epochs}")
    sampler = make_sampler(grid)
    assert isinstance(sampler, optuna.samplers.GridSampler)
    assert grid.space_size() == 15 and len(sampler._all_grids) == 15
    assert grid.params[0].values() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert grid.budget() == 2  # n_trials caps the grid
    brute = spec_of("  sampler: brute-force\n")
    assert isinstance(make_sampler(brute), optuna.samplers.BruteForceSampler)
    for name, cls in [("hyperband", optuna.pruners.HyperbandPruner),
                      ("none", optuna.pruners.NopPruner),
                      ("successive-halving", optuna.pruners.SuccessiveHalvingPruner),
                      ("{type: threshold, lower: 0.1}", optuna.pruners.ThresholdPruner),
                      ("{type: percentile, percentile: 25.0}", optuna.pruners.PercentilePruner)]:
        assert isinstance(make_pruner(spec_of(f"  pruner: {name}\n").pruner), cls)


def test_hyperband_gets_the_schedule_length(write_study, workspace):
    path = write_study(_space("x: {type: float, low: 0.0, high: 1.0, key: job_runner.x}",
                              "  pruner: hyperband\n"))
    sp = plan_search(load_study(path), None, workspace=workspace, repo_root=REPO_ROOT)
    assert sp.spec.pruner == {"type": "hyperband", "max_resource": 4}  # train_cfg.max_epochs


# --------------------------------------------------------------------------- end to end

def test_fake_search_end_to_end(write_study, workspace, capsys):
    """6 trials, 2 at a time: pruned, failed and complete trials; MLflow; report."""
    path = write_study(SEARCH)
    rc = main(["run", str(path), "--workspace", str(workspace), "--parallel", "2"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "trials 6/6 done" in out and "best" in out

    storage = optuna.storages.RDBStorage(f"sqlite:///{workspace}/optuna.db")
    study = optuna.load_study(study_name="fake-search:t", storage=storage)
    trials = study.trials
    assert [t.number for t in trials] == list(range(6))
    states = {t.number: t.state.name for t in trials}
    for t in trials:  # the fake job diverges (NaN) above x = 0.7
        assert (states[t.number] == "FAIL") == (t.params["x"] > 0.7), t
        if states[t.number] == "COMPLETE":
            assert math.isclose(t.value, fake_objective(
                {"x": t.params["x"], "y": t.params["y"], "epochs": 4}, 4))
            assert sorted(t.intermediate_values) == [1, 2, 3, 4]
        if states[t.number] == "PRUNED":
            assert max(t.intermediate_values) < 4  # stopped before the last epoch
    assert {"COMPLETE", "PRUNED", "FAIL"} <= set(states.values()), states

    # Queue: one job per trial, all ended; a failed (NaN) trial is failed, not retried.
    queue = SqliteQueue(workspace / "queue.db")
    jobs = {j.job_id: j for j in queue.jobs("fake-search")}
    assert len(jobs) == 6 and {t.user_attrs["cm.job_id"] for t in trials} == set(jobs)
    for t in trials:
        job = jobs[t.user_attrs["cm.job_id"]]
        assert job.state == ("failed" if states[t.number] == "FAIL" else "succeeded")
        assert job.attempts == 1

    # MLflow: one parent, one child per trial (its training's run), nothing else.
    client = MlflowClient(f"sqlite:///{workspace}/mlflow.db")
    exp = client.get_experiment_by_name("fake-search")
    runs = client.search_runs([exp.experiment_id])
    (parent,) = [r for r in runs if r.data.tags["cm.role"] == "study"]
    children = [r for r in runs if r.data.tags["cm.role"] == "job"]
    assert len(runs) == 7 and len(children) == 6
    assert parent.data.tags["cm.kind"] == "search" and parent.info.status == "FINISHED"
    assert parent.data.metrics["best_value"] == study.best_value
    assert parent.data.tags["cm.best_trial"] == str(study.best_trial.number)
    by_trial = {int(r.data.tags["cm.trial"]): r for r in children}
    assert sorted(by_trial) == list(range(6))
    for t in trials:
        run = by_trial[t.number]
        tags = run.data.tags
        assert tags["mlflow.parentRunId"] == parent.info.run_id
        assert tags["cm.job_hash"] == t.user_attrs["cm.job_id"] == t.user_attrs.get(
            "cm.job_id")
        assert t.user_attrs["cm.run_id"] == run.info.run_id
        assert tags["cm.trial_state"] == t.state.name
        assert {k: float(v) for k, v in run.data.params.items() if k in ("trial.x", "trial.y")
                } == {"trial.x": t.params["x"], "trial.y": t.params["y"]}
        assert run.data.params["job_runner.x"] == str(t.params["x"])  # the config key itself
        expected = {"COMPLETE": ("succeeded", "FINISHED"), "PRUNED": ("pruned", "FINISHED"),
                    "FAIL": ("failed", "FAILED")}[t.state.name]
        assert (tags["cm.status"], run.info.status) == expected
        history = client.get_metric_history(run.info.run_id, "coco/segm_mAP")
        assert sorted(m.step for m in history) == sorted(t.intermediate_values)
        if t.state.name == "COMPLETE":
            assert run.data.metrics["objective"] == t.value
        if t.state.name == "FAIL":
            assert "FloatingPointError" in t.user_attrs["cm.error"]

    # Report: best config (loadable, no search hook), importances.
    folder = workspace / "searches" / "fake-search" / "t"
    from mmengine.config import Config

    cfg = Config.fromfile(str(folder / "best_config.py"))
    assert cfg.job_runner.x == study.best_params["x"] and cfg.randomness.seed == 0
    assert cfg.optim_wrapper.optimizer.lr == study.best_params["lr"]
    assert "custom_hooks" not in cfg and "OptunaPruningHook" not in (
        folder / "best_config.py").read_text()
    importances = json.loads((folder / "importances.json").read_text())
    assert set(importances) == {"x", "y", "lr"} and math.isclose(sum(importances.values()), 1)
    assert "Parameter importances" in out and f"best config: {folder}" in out
    assert all(f"importance.{k}" in parent.data.metrics for k in importances)
    assert (folder / "trials.csv").read_text().count("\n") == 7

    # Nothing left: a rerun asks for nothing and reports again.
    rc = main(["run", str(path), "--workspace", str(workspace), "--parallel", "2"])
    out = capsys.readouterr().out
    assert rc == 0 and "0 trial(s) asked in this run" in out
    assert len(optuna.load_study(study_name="fake-search:t", storage=storage).trials) == 6


def test_trial_config_hook_is_removed_for_the_best_config():
    tree = {"custom_imports": {"imports": ["centermask_mm", "orchestrator.search.pruning_hook"],
                               "allow_failed_imports": False},
            "custom_hooks": [{"type": "EMAHook"}, {"type": "OptunaPruningHook", "metric": "m"}]}
    out = without_hook(tree)
    assert out["custom_imports"]["imports"] == ["centermask_mm"]
    assert out["custom_hooks"] == [{"type": "EMAHook"}]


@pytest.mark.slow  # Ray start + a search; test_executor_contract.py[ray] and the fake
# end-to-end search cover the two halves
def test_trials_run_on_ray(write_study, workspace, ray_executor, capsys):
    """The same search through the Ray executor (a local Ray, 2 trials at a time)."""
    path = write_study(SEARCH.replace("n_trials: 6", "n_trials: 2").replace(
        "{+job_runner.nan_above: 0.7}", "{job_runner.epochs: 2}"))
    rc = main(["run", str(path), "--workspace", str(workspace), "--executor", "ray",
               "--parallel", "2"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "ray executor" in out.lower() and "trials 2/2 done" in out
    storage = optuna.storages.RDBStorage(f"sqlite:///{workspace}/optuna.db")
    trials = optuna.load_study(study_name="fake-search:t", storage=storage).trials
    assert len(trials) == 2 and all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    assert all(t.intermediate_values for t in trials)  # reported from the Ray tasks


def test_unreachable_storage_is_a_clear_error_without_the_password(write_study, workspace,
                                                                    capsys):
    path = write_study(_space(
        "x: {type: float, low: 0.0, high: 1.0, key: job_runner.x}",
        "  storage: postgresql://user:secret@127.0.0.1:1/optuna\n"))
    assert main(["run", str(path), "--workspace", str(workspace)]) == 2
    out = capsys.readouterr().out
    assert (f"{path}:{_line_of(path, 'storage:')}: search.storage: cannot open the Optuna "
            "storage postgresql://user:***@127.0.0.1:1/optuna") in out
    assert "secret" not in out


def test_toy_search_study_plans(workspace, tiny_toy, monkeypatch):
    """``experiments/studies/search_toy.yaml`` is valid under both profiles; its trial jobs."""
    monkeypatch.setenv("CM_TOY_ROOT", str(tiny_toy))
    study = load_study(REPO_ROOT / "experiments/studies/search_toy.yaml")
    for profile, n_trials, epochs in (("toy", 6, 6), ("quick", 2, 2)):
        sp = plan_search(study, profile, workspace=workspace, repo_root=REPO_ROOT)
        assert sp.spec.budget() == n_trials and sp.spec.pruner["type"] == "median"
        assert sp.optuna_name == f"search-toy:{profile}"
        job = sp.trial_job(3, {"lr": 2e-3, "score_thr": 0.1})
        cfg = job.config
        assert cfg["optim_wrapper"]["optimizer"]["lr"] == 2e-3
        assert cfg["model"]["train_cfg"]["fcos_proposal"]["score_thr"] == 0.1
        assert cfg["train_cfg"]["max_epochs"] == epochs
        assert {"type": "OptunaPruningHook", "metric": "coco/segm_mAP"} in cfg["custom_hooks"]
        assert "orchestrator.search.pruning_hook" in cfg["custom_imports"]["imports"]
        assert job.job_id != sp.trial_job(4, {"lr": 2e-3, "score_thr": 0.1}).job_id
        assert "custom_hooks" not in without_hook(sp.best_config(job.params)) or all(
            h["type"] != "OptunaPruningHook" for h in sp.best_config(job.params)["custom_hooks"])


@pytest.mark.slow  # a whole grid search; test_fake_search_end_to_end covers the loop and
# test_hyperband_gets_the_schedule_length the pruner's brackets
def test_grid_search_with_hyperband_end_to_end(write_study, workspace, capsys):
    """Every grid point exactly once (3 x 2 = 6 trials) under Hyperband, 2 at a time."""
    text = (SEARCH.replace("sampler: {type: tpe, seed: 0, n_startup_trials: 3}", "sampler: grid")
            .replace("pruner: {type: median, n_startup_trials: 2}", "pruner: hyperband")
            .replace("n_trials: 6", "n_trials: 20")  # capped by the grid's size
            .replace("x: {type: float, low: -1.0, high: 1.0, key: job_runner.x}",
                     "x: {type: categorical, choices: [0.0, 0.3, 0.6], key: job_runner.x}")
            .replace("    y: {type: float, low: 0.01, high: 2.0, log: true, key: job_runner.y}\n",
                     ""))
    path = write_study(text)
    rc = main(["run", str(path), "--workspace", str(workspace), "--parallel", "2"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "trials 6/6 done" in out

    storage = optuna.storages.RDBStorage(f"sqlite:///{workspace}/optuna.db")
    trials = optuna.load_study(study_name="fake-search:t", storage=storage).trials
    points = sorted((t.params["x"], t.params["lr"]) for t in trials)
    assert points == sorted((x, lr) for x in (0.0, 0.3, 0.6) for lr in (0.01, 0.1))
    for t in trials:
        assert t.state.name in ("COMPLETE", "PRUNED"), t
        steps = sorted(t.intermediate_values)
        # Hyperband's resource is the schedule (4 epochs): pruned trials stop before it.
        assert steps == list(range(1, len(steps) + 1))
        assert (max(steps) == 4) == (t.state.name == "COMPLETE")
    jobs = SqliteQueue(workspace / "queue.db").jobs("fake-search")
    assert len(jobs) == 6 and all(j.attempts == 1 for j in jobs)
