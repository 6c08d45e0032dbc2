"""Planning a search (driver side): validate a ``kind: search`` study under a profile
(:func:`plan_search`), build each trial's config and job (:class:`SearchPlan`,
:class:`TrialJob`), and open its Optuna study (:func:`open_study`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..study import configs
from ..study.errors import Problem, StudyError
from ..study.plan import Plan, PlannedJob, build_model, plan_study
from ..study.reader import Profile, Study
from ..workspace import Workspace
from .space import SearchSpec, make_storage, parse_search, redact

HOOK_TYPE = "OptunaPruningHook"
HOOK_MODULE = "orchestrator.search.pruning_hook"
#: Trial user attributes written by the driver.
OWNER_ATTR, JOB_ATTR, RUN_ATTR, ERROR_ATTR, ORPHAN_ATTR = (
    "cm.owner", "cm.job_id", "cm.run_id", "cm.error", "cm.orphan")
#: A RUNNING trial without an owner (its driver died inside ``ask``) is failed after this.
ORPHAN_AGE_S = 600.0
STORAGE_ENV = "CM_OPTUNA_STORAGE"


def _say(text: str = "") -> None:
    print(text, flush=True)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# --------------------------------------------------------------------------- planning

@dataclass
class TrialJob(PlannedJob):
    """The job of one trial.

    Attributes:
        number: Optuna trial number.
        params: The trial's parameters (name -> value).
    """

    number: int = -1
    params: dict[str, Any] = dataclasses.field(default_factory=dict)


def _with_hook(tree: configs.Tree, metric: str) -> configs.Tree:
    """``tree`` with the pruning hook (and the import that registers it)."""
    imports = dict(tree.get("custom_imports") or {"allow_failed_imports": False})
    names = imports.get("imports") or []
    names = [names] if isinstance(names, str) else list(names)
    imports["imports"] = [*names, HOOK_MODULE] if HOOK_MODULE not in names else names
    hooks = [h for h in tree.get("custom_hooks") or [] if h.get("type") != HOOK_TYPE]
    return {**tree, "custom_imports": imports,
            "custom_hooks": [*hooks, {"type": HOOK_TYPE, "metric": metric}]}


def without_hook(tree: configs.Tree) -> configs.Tree:
    """A trial config as a plain training config (no pruning hook, no search import)."""
    out = dict(tree)
    hooks = [h for h in out.get("custom_hooks") or [] if h.get("type") != HOOK_TYPE]
    if hooks:
        out["custom_hooks"] = hooks
    else:
        out.pop("custom_hooks", None)
    imports = dict(out.get("custom_imports") or {})
    if imports:
        names = imports.get("imports") or []
        imports["imports"] = [n for n in ([names] if isinstance(names, str) else names)
                              if n != HOOK_MODULE]
        out["custom_imports"] = imports
    return out


@dataclass
class SearchPlan:
    """A validated search study under one profile.

    Attributes:
        study, profile, spec: The study, profile and merged ``search:`` section.
        base: The plan of the base config alone (data set, code fingerprint, one job).
        storage_url: Optuna storage (SQLAlchemy URL).
        optuna_name: Optuna study name, ``<study>:<profile>``.
        workspace: Workspace root.
    """

    study: Study
    profile: Profile
    spec: SearchSpec
    base: Plan
    storage_url: str
    optuna_name: str
    workspace: Path

    @property
    def seed(self) -> int:
        return self.base.jobs[0].seed

    @property
    def folder(self) -> Path:
        """Where the report and the best config go."""
        return self.workspace / "searches" / self.study.name / self.profile.name

    def config_for(self, params: Mapping[str, Any]) -> tuple[configs.Tree, list[str]]:
        """The resolved (unbound) trial config for ``params`` and the keys they set."""
        patch: dict[str, Any] = {}
        for p in self.spec.params:
            patch.update(p.patch(params[p.name]))
        tree, issues = configs.apply_patch(self.base.base_config, patch)
        if issues:  # validated at planning time; only a changed config gets here
            raise StudyError([self.study.problem(("search", "space"), i.message)
                              for i in issues])
        tree, _ = configs.apply_patch(tree, self.profile.override)
        return tree, [configs.patch_key_path(k) for k in patch]

    def trial_job(self, number: int, params: Mapping[str, Any]) -> TrialJob:
        """The job of trial ``number`` (its id is unique to the trial)."""
        from ..study.data import bind, manifest
        from ..study.identity import ID_LENGTH, job_id

        tree, touched = self.config_for(params)
        tree = _with_hook(tree, self.spec.metric)
        chash = configs.config_hash(tree)
        data = self.base.dataset
        bound = bind(tree, data)
        mani = manifest(bound, data, self.workspace / "cache" / "files.json")
        # The same parameters in two trials are two jobs: each trial has its own run.
        code = self.base.fingerprint(bound)
        identity = f"{job_id(chash, self.seed, mani, code)}:{self.optuna_name}:{number}"
        jid = hashlib.sha256(identity.encode()).hexdigest()[:ID_LENGTH]
        final = {**bound, "randomness": {**(bound.get("randomness") or {}), "seed": self.seed}}
        base_after, _ = configs.apply_patch(self.base.base_config, self.profile.override)
        shown = ", ".join(f"{k}={_fmt(params[k])}" for k in (p.name for p in self.spec.params))
        return TrialJob(job_id=jid, name=f"trial {number}: {shown}", levels={}, seed=self.seed,
                        config=final, config_hash=chash,
                        diff=configs.diff(base_after, tree, touched),
                        family=self.base.jobs[0].family, code=code, number=number,
                        params=dict(params))

    def best_config(self, params: Mapping[str, Any]) -> configs.Tree:
        """The ready-to-use config of ``params``: bound to the data set, seeded, no hook."""
        from ..study.data import bind

        tree, _ = self.config_for(params)
        bound = bind(tree, self.base.dataset)
        return {**bound, "randomness": {**(bound.get("randomness") or {}), "seed": self.seed}}


def _key_path(p: Any, i: int) -> tuple[Any, ...]:
    return (*p.path, "keys", i) if len(p.keys) > 1 else (*p.path, "key")


def plan_search(study: Study, profile_name: str | None, *, workspace: Path, repo_root: Path,
                validate_build: bool = True) -> SearchPlan:
    """Validate a search study under a profile; nothing is asked or run.

    Raises:
        StudyError: Every problem found (file, line and key), before any trial starts.
    """
    profile = study.profile(profile_name)
    problems: list[Problem] = []
    if study.kind != "search":
        raise StudyError([study.problem(("kind",), "not a kind: search study")])
    if study.axes:
        problems.append(study.problem(("axes",), "a search study has no axes: its trials "
                                                 "come from search.space"))
    if len(profile.seeds or study.seeds) != 1:
        seeds_key = ("profiles", profile.name, "seeds") if profile.seeds else ("seeds",)
        problems.append(study.problem(seeds_key, "a search trial runs one seed; give one seed"))
    spec = parse_search(study, profile)  # raises with every file-level problem
    if problems:
        raise StudyError(problems)
    base = plan_study(dataclasses.replace(study, kind="ablation"), profile.name,
                      workspace=workspace, repo_root=repo_root, validate_build=validate_build)

    # Config keys: they exist (or are added with '+'), take the parameter's values, and
    # are not overwritten by the profile's override.
    override = {configs.patch_key_path(k) for k in profile.override}
    tree0 = base.base_config
    for p in spec.params:
        for i, key in enumerate(p.keys):
            where = _key_path(p, i)
            reported = False
            for value in p.samples():
                _, issues = configs.apply_patch(tree0, {key: value})
                for issue in issues:
                    problems.append(study.problem(where, f"{issue.message} (parameter "
                                                         f"{p.name!r} = {value!r})"))
                    reported = True
                if reported:
                    break
            found, old = configs.get_path(tree0, key)
            if not reported and p.type == "float" and isinstance(old, int) and not isinstance(
                    old, bool):
                problems.append(study.problem(where, f"{key} is an integer ({old}) in the "
                                                     "config; use type: int"))
            if configs.patch_key_path(key) in override:
                problems.append(study.problem(where, f"the profile's override sets {key} "
                                                     "after the search would: the parameter "
                                                     "could never change it"))
    if problems:
        raise StudyError(problems)

    # Models the space can produce must build: each choice / bound of a model parameter.
    if validate_build:
        from ..study.data import bind

        seen: set[str] = set()
        for p in spec.params:
            if not any(configs.patch_key_path(k).startswith("model.") for k in p.keys):
                continue
            for value in p.samples():
                tree, _ = configs.apply_patch(tree0, p.patch(value))
                tree, _ = configs.apply_patch(tree, profile.override)
                bound = bind(tree, base.dataset)
                model_key = configs.canonical(bound.get("model"))
                if model_key in seen:
                    continue
                seen.add(model_key)
                try:
                    build_model(bound)
                except Exception as exc:  # noqa: BLE001 - reported with the study's lines
                    msg = f"{type(exc).__name__}: {exc}".splitlines()[0][:400]
                    problems.append(study.problem(p.path, f"model fails to build with "
                                                          f"{p.name} = {value!r}: {msg}"))
    if problems:
        raise StudyError(problems)

    # Hyperband needs the same brackets in the driver and in every job process: fix its
    # maximum resource to the schedule's length instead of Optuna's 'auto'.
    if spec.pruner["type"] in ("hyperband",) and "max_resource" not in spec.pruner:
        _, epochs = configs.get_path(tree0, "train_cfg.max_epochs")
        _, iters = configs.get_path(tree0, "train_cfg.max_iters")
        steps = epochs or iters
        if isinstance(steps, int) and steps > 0:
            spec = dataclasses.replace(spec, pruner={**spec.pruner, "max_resource": steps})

    ws_root = Path(workspace)
    url = _storage_url(spec, Workspace(ws_root))
    return SearchPlan(study=study, profile=profile, spec=spec, base=base, storage_url=url,
                      optuna_name=f"{study.name}:{profile.name}", workspace=ws_root)


def open_study(sp: SearchPlan, create: bool = True) -> tuple[Any, Any]:
    """``(optuna study, storage)`` of the search, created on first use.

    Raises:
        StudyError: The stored study optimises in the other direction.
    """
    import optuna

    from .space import make_pruner, make_sampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if sp.storage_url.startswith("sqlite:///"):
        Path(sp.storage_url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    try:
        storage = make_storage(sp.storage_url)
    except Exception as exc:  # noqa: BLE001 - a wrong URL, a missing driver, a down server
        raise StudyError([sp.study.problem(sp.spec.path("storage"), f"cannot open the Optuna "
                          f"storage {redact(sp.storage_url)}: {type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''}")]) from exc
    kwargs = dict(study_name=sp.optuna_name, storage=storage, sampler=make_sampler(sp.spec),
                  pruner=make_pruner(sp.spec.pruner))
    if create:
        study = optuna.create_study(direction=sp.spec.direction, load_if_exists=True, **kwargs)
    else:
        study = optuna.load_study(**kwargs)
    n = len(storage.get_all_trials(storage.get_study_id_from_name(sp.optuna_name),
                                   deepcopy=False))
    if n and sp.spec.sampler.get("seed") is not None:
        # A resumed search must not draw its seeded random numbers again: the new trials
        # would repeat the parameters of the first ones.
        seeded = {**sp.spec.sampler, "seed": int(sp.spec.sampler["seed"]) + n}
        study.sampler = make_sampler(dataclasses.replace(sp.spec, sampler=seeded))
    stored = study.direction.name.lower()
    if stored != sp.spec.direction:
        raise StudyError([sp.study.problem(sp.spec.path("direction"), f"the Optuna study "
                          f"{sp.optuna_name!r} in {redact(sp.storage_url)} was created to "
                          f"{stored}; rename the study or use another storage")])
    return study, storage


def _storage_url(spec: SearchSpec, ws: Workspace) -> str:
    return spec.storage or os.environ.get(STORAGE_ENV) or f"sqlite:///{ws.root / 'optuna.db'}"
