"""Study + profile -> validated plan: one :class:`PlannedJob` per (combination, seed).

Checks that need the resolved config happen here, before anything is queued: every patch
key exists (or is added with ``+``) and keeps its type, no non-empty level is a no-op, no
two levels of an axis resolve to the same config, and every distinct model builds (once,
on the meta device; successes are cached in the workspace per model config and code
fingerprint, so re-planning a 1,000-job study does not rebuild anything).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import write_json
from ..workspace import REPO_ROOT, Workspace, find_study
from .batch import BatchPlan, plan_batch
from .configs import (
    WHERE_PRESENT,
    ConfigLoadError,
    PatchIssue,
    Tree,
    apply_patch,
    canonical,
    config_hash,
    diff,
    get_path,
    leaf_keys,
    load_base,
    patch_key_path,
    resolve_config_path,
)
from .data import DataError, Dataset, bind, manifest, resolve_dataset
from .errors import Problem, StudyError
from .identity import CodeFingerprint, job_id
from .reader import LEVEL_BASE_KEY, Level, Profile, Study, combinations, load_study
from .trust import base_problem, patch_trust_issues
from .values import config_value_issues, culprit, patch_value_issues


@dataclass
class PlannedJob:
    """One job of a plan.

    Attributes:
        job_id: Identity hash (see :mod:`orchestrator.study.identity`).
        name: Readable name (:func:`job_name`): ``V-19 · GN · seed 0``.
        levels: axis -> level name.
        seed: Random seed (``randomness.seed`` in the config).
        config: The bound, seeded config the worker runs.
        config_hash: Hash of the resolved config (without data roots and seed).
        diff: ``(key, base value, job value)`` for each key the levels changed.
        family: Config family for time estimates (``<base stem>:<profile>``).
        mode: ``train`` (train, then test) or ``evaluate`` (test a given checkpoint only;
            :mod:`orchestrator.study.evaluate`).
        tags: Extra MLflow tags of the job's run (an evaluation's weights file and hash).
        code: Fingerprint of the project code the job runs (see
            :class:`~orchestrator.study.identity.CodeFingerprint`).
        data_manifest: The data part of its identity (data set tag, annotation file
            hashes; :func:`~orchestrator.study.data.manifest`), logged as MLflow inputs.
    """

    job_id: str
    name: str
    levels: dict[str, str]
    seed: int
    config: Tree = field(repr=False)
    config_hash: str
    diff: list[tuple[str, Any, Any]]
    family: str
    mode: str = "train"
    tags: dict[str, str] = field(default_factory=dict)
    code: str = ""
    data_manifest: dict[str, Any] = field(default_factory=dict, repr=False)

    def spec(self, study: Study, profile: Profile, data: Dataset) -> dict[str, Any]:
        """What the queue stores about the job (JSON)."""
        return {"study": study.name, "profile": profile.name, "name": self.name,
                "levels": self.levels, "seed": self.seed, "config_hash": self.config_hash,
                "family": self.family, "dataset": data.tag, "mode": self.mode}


@dataclass
class Plan:
    """A validated, expanded study."""

    study: Study
    profile: Profile
    dataset: Dataset
    base_path: Path
    base_config: Tree = field(repr=False)
    fingerprint: CodeFingerprint = field(repr=False)
    jobs: list[PlannedJob]
    seconds: dict[str, float]
    notes: list[str] = field(default_factory=list)  # e.g. rows an evaluation leaves out
    batch: BatchPlan | None = None

    def job(self, job_id: str) -> PlannedJob | None:
        return next((j for j in self.jobs if j.job_id == job_id), None)


# --------------------------------------------------------------------------- model builds

class _BuildCache:
    """Model configs known to build, persisted in ``<workspace>/cache/builds.json``."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.ok: set[str] = set()
        if path is not None and path.exists():
            self.ok = set(json.loads(path.read_text()))
        self._dirty = False

    def add(self, key: str) -> None:
        self.ok.add(key)
        self._dirty = True

    def save(self) -> None:
        if self.path is not None and self._dirty:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_json(self.path, sorted(self.ok), indent=None)


def build_model(tree: Tree) -> None:
    """Build ``tree['model']`` through mmdet's registry on the meta device.

    Raises:
        Exception: Whatever the model's constructor raises.
    """
    import importlib

    import torch
    from mmengine.config import ConfigDict
    from mmengine.registry import init_default_scope

    imports = (tree.get("custom_imports") or {}).get("imports") or []
    for module in [imports] if isinstance(imports, str) else imports:
        importlib.import_module(module)
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    register_all_modules(init_default_scope=False)
    init_default_scope(tree.get("default_scope") or "mmdet")
    # The meta device allocates nothing, so even a COCO-sized model builds in milliseconds.
    with torch.device("meta"):
        MODELS.build(ConfigDict(tree["model"]))


# --------------------------------------------------------------------------- planning

def job_name(study: Study, levels: Mapping[str, str], seed: int) -> str:
    """The job's readable name: its level names and seed, ``V-19 · GN · seed 0``.

    A level name that several axes use (``on``/``off``) is written ``axis=level``, so names
    stay unambiguous; a study without axes gives ``seed 0``. This is the MLflow run name:
    the UI shows it whole, where ``axis=level,...`` lists were cut to a common prefix.
    """
    counts: dict[str, int] = {}
    for axis in study.axes:
        for level in axis.levels:
            counts[level.name] = counts.get(level.name, 0) + 1
    parts = [lv if counts.get(lv, 0) <= 1 else f"{a}={lv}" for a, lv in levels.items()]
    return " · ".join([*parts, f"seed {seed}"])


def _issue_problems(study: Study, path: tuple[Any, ...], issues: list[PatchIssue]
                    ) -> list[Problem]:
    return [study.problem((*path, i.key), i.message) for i in issues]


def _level_path(level: Level) -> tuple[str, ...]:
    return ("axes", level.axis, level.name)


def _mark_present(seen: dict[tuple[Any, ...], bool], path: tuple[Any, ...],
                  patch: Mapping[str, Any], tree: Tree) -> None:
    """Record for each ``?`` key of ``patch`` whether ``tree``, which it applies to, has it."""
    for k in patch:
        if k.startswith(WHERE_PRESENT):
            seen[(*path, k)] = seen.get((*path, k), False) or get_path(tree, k)[0]


def batch_meta_key(study: str, profile: str) -> str:
    """Queue meta key of the GPUs a profile's effective batch was last planned for."""
    return f"batch-gpus:{study}:{profile}"


def plan_study(study: Study, profile_name: str | None, *, workspace: Path, repo_root: Path,
               validate_build: bool = True, available_gpus: int | None = None) -> Plan:
    """Expand and validate ``study`` under a profile.

    Args:
        study: A parsed study.
        profile_name: Profile to plan (``None``: the study's default profile).
        workspace: Workspace directory (toy data, caches).
        repo_root: Root that base config paths are relative to.
        validate_build: Build every distinct model once (cached).
        available_gpus: GPUs a job can use, for a profile that declares the paper's batch
            (``batch:``): ``None`` when the executor allocates what is asked (Slurm), so
            the declared world size is planned. See :mod:`orchestrator.study.batch`.

    Raises:
        StudyError: Every problem found, with file, line and key; nothing is queued.
    """
    t0 = time.perf_counter()
    seconds: dict[str, float] = {}
    profile = study.profile(profile_name)
    if profile.evaluate is not None:  # published checkpoints: tested, not trained
        from .evaluate import plan_evaluation

        return plan_evaluation(study, profile, workspace=workspace, repo_root=repo_root,
                               validate_build=validate_build)
    base_name = profile.base or study.base
    base_key: tuple[Any, ...] = ("profiles", profile.name, "base") if profile.base else ("base",)
    try:
        why = base_problem(base_name, None, repo_root)
        base_path = resolve_config_path(base_name, repo_root) if why is None else Path()
        if why is not None or (why := base_problem(base_name, base_path, repo_root)):
            raise StudyError([study.problem(base_key, f"untrusted base: {why}")])
        loaded = load_base(base_path)
    except ConfigLoadError as exc:
        raise StudyError([study.problem(base_key, f"cannot load config: {exc}")]) from exc
    seconds["load_base"] = time.perf_counter() - t0

    problems: list[Problem] = []
    batch: BatchPlan | None = None
    if profile.batch is not None:
        try:
            batch = plan_batch(profile.batch, available_gpus)
        except ValueError as exc:
            raise StudyError([study.problem(("profiles", profile.name, "batch"),
                                            str(exc))]) from exc
        # The jobs use the planned world size: one process per GPU (or one on CPUs).
        gpus = float(batch.world_size) if available_gpus != 0 else profile.resources.gpus_per_job
        profile = dataclasses.replace(profile, resources=dataclasses.replace(
            profile.resources, gpus_per_job=gpus))
    base, issues = apply_patch(loaded, profile.patch)
    issues += patch_value_issues(loaded, profile.patch, base)
    issues += patch_trust_issues(profile.patch, repo_root)
    problems += _issue_problems(study, ("profiles", profile.name, "patch"), issues)
    base_hash = config_hash(base)
    # The override must apply to the base too; then it is checked once, here.
    base_after, issues = apply_patch(base, profile.override)
    issues += patch_value_issues(base, profile.override, base_after)
    issues += patch_trust_issues(profile.override, repo_root)
    problems += _issue_problems(study, ("profiles", profile.name, "override"), issues)

    # Levels naming their own base (``_base_``): loaded once, with the profile's patch.
    level_bases: dict[str, Tree] = {}
    for level in (lv for axis in study.axes for lv in axis.levels if lv.base):
        assert level.base is not None
        if level.base in level_bases:
            continue
        base_at = (*_level_path(level), LEVEL_BASE_KEY)
        try:
            why = base_problem(level.base, None, repo_root)
            lb_path = resolve_config_path(level.base, repo_root) if why is None else Path()
            if why is not None or (why := base_problem(level.base, lb_path, repo_root)):
                problems.append(study.problem(base_at, f"untrusted base: {why}"))
                continue
            lb, issues = apply_patch(load_base(lb_path), profile.patch)
        except ConfigLoadError as exc:
            problems.append(study.problem(base_at, f"cannot load config: {exc}"))
            continue
        problems += _issue_problems(study, ("profiles", profile.name, "patch"), issues)
        level_bases[level.base] = lb
    if problems:
        raise StudyError(problems)

    def start(levels: tuple[Level, ...] | list[Level]) -> Tree:
        """The config a combination starts from: its level's ``_base_``, else the base."""
        named = [lv.base for lv in levels if lv.base]
        return level_bases[named[0]] if named else base

    # Each level alone on the base: key typos, type mismatches, no-ops, twins.
    for axis in study.axes:
        seen: dict[str, str] = {}
        for level in axis.levels:
            before = start([level])
            tree, issues = apply_patch(before, level.patch)
            issues += patch_value_issues(before, level.patch, tree)
            issues += patch_trust_issues(level.patch, repo_root)
            problems += _issue_problems(study, _level_path(level), issues)
            if issues:
                continue
            if any(k.startswith(WHERE_PRESENT) and not get_path(base, k)[0]
                   for k in level.patch):
                continue  # a '?' key the base lacks may apply after another axis's level
            h = config_hash(tree)
            if (level.patch or level.base) and h == base_hash \
                    and study.origin(_level_path(level)) is None:
                # (A --sweep may list the base's own value among the others.)
                set_keys = [*level.patch, *([LEVEL_BASE_KEY] if level.base else [])]
                problems.append(study.problem(
                    _level_path(level), f"no-op level: {', '.join(set_keys)} already "
                    f"{'has' if len(set_keys) == 1 else 'have'} these values in the resolved "
                    "config (write {} for the baseline level)"))
            elif h in seen:
                problems.append(study.problem(
                    _level_path(level), f"level resolves to the same config as level "
                    f"{seen[h]!r} of axis {axis.name!r}"))
            seen.setdefault(h, level.name)
    if problems:
        raise StudyError(problems)
    seconds["validate_levels"] = time.perf_counter() - t0 - sum(seconds.values())

    try:
        data = resolve_dataset(profile.data, workspace, repo_root)
    except DataError as exc:
        key = ("profiles", profile.name, "data") if study.line(
            "profiles", profile.name, "data") else ("data",)
        raise StudyError([study.problem(key, str(exc))]) from exc
    seconds["dataset"] = time.perf_counter() - t0 - sum(seconds.values())

    fingerprint = CodeFingerprint.of(repo_root / "centermask_mm")
    seeds = profile.seeds or study.seeds
    family = f"{Path(base_name).stem}:{profile.name}"
    builds = _BuildCache(workspace / "cache" / "builds.json" if validate_build else None)
    manifests: dict[str, dict[str, Any]] = {}
    failed_models: dict[str, str] = {}
    jobs: list[PlannedJob] = []
    seen_configs: dict[str, str] = {}
    # '?' keys may be absent from some configurations but must apply to at least one.
    where_present: dict[tuple[Any, ...], bool] = {
        ("profiles", profile.name, "override", k): get_path(base, k)[0]
        for k in profile.override if k.startswith(WHERE_PRESENT)}
    for combo in combinations(study):
        if len([lv for lv in combo if lv.base]) > 1:
            names = ", ".join(f"{lv.axis}={lv.name}" for lv in combo if lv.base)
            problems.append(study.problem(("axes",), f"combination ({names}) names two "
                                                     f"{LEVEL_BASE_KEY} configs; at most one"))
            continue
        tree = start(combo)
        # A level's own base changes whatever differs from the study's (shown as its diff).
        touched: list[str] = [] if tree is base else [
            k for k in dict.fromkeys([*base, *tree])
            if canonical(base.get(k)) != canonical(tree.get(k))]
        combo_issues = []
        for level in combo:
            _mark_present(where_present, _level_path(level), level.patch, tree)
            # Alone on the base each level was checked above; after another axis's level
            # (say, one that replaces the backbone) a key may be gone or retyped.
            tree, issues = apply_patch(tree, level.patch)
            combo_issues += [(level, i) for i in issues]
            touched += leaf_keys(level.patch)
        if combo_issues:
            names = ", ".join(f"{lv.axis}={lv.name}" for lv in combo)
            problems += [study.problem((*_level_path(lv), i.key),
                                       f"{i.message} (in combination {names})")
                         for lv, i in combo_issues]
            continue
        _mark_present(where_present, ("profiles", profile.name, "override"),
                      profile.override, tree)
        tree, issues = apply_patch(tree, profile.override)
        if batch is not None and not issues:
            # After the override: the effective batch of the profile wins over any level.
            tree, issues = apply_patch(tree, batch.patch(tree))
        if issues:  # a level removed or retyped a key the override sets
            where = [("profiles", profile.name, "override", i.key) for i in issues]
            problems += [study.problem(w, f"{i.message} (with levels "
                                          f"{', '.join(lv.name for lv in combo)})")
                         for w, i in zip(where, issues, strict=True)]
            continue
        # Ranges mmengine and numpy accept (epochs, batch sizes, seeds, lr), wherever set.
        patches = [(("profiles", profile.name, "patch"), profile.patch),
                   *((_level_path(lv), lv.patch) for lv in combo),
                   (("profiles", profile.name, "override"), profile.override)]
        bad_values = config_value_issues(tree)
        problems += [study.problem(culprit(key, patches) or base_key, msg)
                     for key, msg in bad_values]
        if bad_values:
            continue
        chash = config_hash(tree)
        names = ", ".join(f"{lv.axis}={lv.name}" for lv in combo)
        if chash in seen_configs:
            # Another axis or the profile override undid a level: the table would show two
            # rows that are one job.
            key = (("profiles", profile.name, "override") if profile.override else ("axes",))
            problems.append(study.problem(key, f"combinations ({seen_configs[chash]}) and "
                                               f"({names}) resolve to the same config"))
            continue
        seen_configs[chash] = names
        bound = bind(tree, data)
        ann_key = canonical({k: bound.get(k) for k in (
            "train_dataloader", "val_dataloader", "test_dataloader")})
        if ann_key not in manifests:
            try:
                manifests[ann_key] = manifest(bound, data, workspace / "cache" / "files.json")
            except DataError as exc:
                raise StudyError([study.problem(["data"], str(exc))]) from exc
        data_manifest = manifests[ann_key]
        code = fingerprint(bound)
        if validate_build and isinstance(bound.get("model"), Mapping):
            model_key = hashlib.sha256((canonical(bound["model"]) + code).encode()).hexdigest()
            if model_key not in builds.ok and model_key not in failed_models:
                try:
                    build_model(bound)
                    builds.add(model_key)
                except Exception as exc:  # noqa: BLE001 - reported with the study's lines
                    failed_models[model_key] = f"{type(exc).__name__}: {exc}".splitlines()[0]
            if model_key in failed_models:
                culprits = [lv for lv in combo if lv.base or any(
                    patch_key_path(k).startswith("model") for k in lv.patch)] or None
                paths: list[tuple[Any, ...]] = (
                    [_level_path(lv) for lv in culprits] if culprits else [base_key])
                msg = f"model fails to build: {failed_models[model_key][:400]}"
                problems += [study.problem(w, msg) for w in paths]
                continue
        changes = diff(base_after, tree, touched)
        level_names = {lv.axis: lv.name for lv in combo}
        for seed in seeds:
            jid = job_id(chash, seed, data_manifest, code)
            final = {**bound, "randomness": {**(bound.get("randomness") or {}), "seed": seed}}
            jobs.append(PlannedJob(job_id=jid, name=job_name(study, level_names, seed),
                                   levels=level_names, seed=seed, config=final,
                                   config_hash=chash, diff=changes, family=family,
                                   code=code, data_manifest=data_manifest))
    problems += [study.problem(path, f"{path[-1]!r} is in none of the configurations it "
                                     "applies to (the base and every combination); a '?' key "
                                     "may be missing from some of them, not from all")
                 for path, hit in where_present.items() if not hit]
    builds.save()
    if problems:
        # The same build failure reached through several combinations is reported once.
        raise StudyError(list(dict.fromkeys(problems)))
    seconds["expand"] = time.perf_counter() - t0 - sum(seconds.values())
    seconds["total"] = time.perf_counter() - t0
    return Plan(study=study, profile=profile, dataset=data, base_path=base_path,
                base_config=base, fingerprint=fingerprint, jobs=jobs, seconds=seconds,
                batch=batch)


def expected_job_hashes(study_path: str | Path, profile: str | None = None,
                        workspace: str | Path | None = None) -> dict[str, set[str]]:
    """:func:`table_job_ids` of a study file (``analysis`` asks through
    :func:`orchestrator.describe_study`)."""
    return table_job_ids(load_study(find_study(study_path)), profile, workspace)


def table_job_ids(study: Study, profile: str | None = None,
                  workspace: str | Path | None = None) -> dict[str, set[str]]:
    """Current job ids of each row of the study's ``table`` section.

    A row's ``levels`` select the jobs whose levels match them (all seeds). The plan is
    made without the model-build check, so this is quick.
    """
    ws = Workspace.at(workspace)
    # A profile with a declared batch is found with the GPUs its last run planned for
    # (``orchestrator run`` records them), else with the paper's world size.
    gpus: int | None = None
    name = profile or study.default_profile
    if study.profiles.get(name) is not None and study.profiles[name].batch is not None \
            and ws.queue_path.exists():
        from ..queue import SqliteQueue

        recorded = SqliteQueue(ws.queue_path).get_meta(batch_meta_key(study.name, name))
        gpus = int(recorded) if recorded not in (None, "", "none") else None
    plan = plan_study(study, profile, workspace=ws.root, repo_root=REPO_ROOT,
                      validate_build=False, available_gpus=gpus)
    out: dict[str, set[str]] = {}
    for row in (study.table or {}).get("rows") or []:
        wanted = {str(a): str(lv) for a, lv in (row.get("levels") or {}).items()}
        out[str(row["name"])] = {j.job_id for j in plan.jobs
                                 if all(j.levels.get(a) == lv for a, lv in wanted.items())}
    return out
