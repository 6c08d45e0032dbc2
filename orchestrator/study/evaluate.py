"""Evaluation-only profiles: published checkpoints tested through the same queue and MLflow.

A profile with an ``evaluate`` section trains nothing. Each combination of the study's
levels is matched to the first ``evaluate.models`` entry whose ``levels`` it has; that
entry names a model of the metafile (``published: <Name>``: its ``Config`` and
``Weights`` file name) or gives ``weights`` and ``config`` itself. The job runs the
model's own config (the one that mirrors the published model; the levels' patches, written
for training, are not applied), with the profile's ``patch`` and ``override``, bound to
the profile's data. Combinations without an entry are left out, with a note in the plan.

Checked here, before anything is queued: the metafile names exist (file:line of the
entry), every weights file exists in the weights folder (the error names the file and the
row), the model keeps its classes on the data set (an 80-class published model cannot be
tested on the 5-class toy set; with ``data: toy`` or ``auto`` without COCO an evaluation
profile uses the toy set made with COCO's categories), and the model builds.

The job id includes the weights file's sha256 (hashed once per file size and mtime, cached
in ``<workspace>/cache/files.json``), so a new file is a new job and a renamed one is not.
"""
from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .configs import (
    ConfigLoadError,
    apply_patch,
    canonical,
    config_hash,
    load_base,
    resolve_config_path,
)
from .data import DataError, Dataset, _file_hash, bind, manifest, resolve_dataset
from .errors import Problem, StudyError
from .identity import CodeFingerprint, file_code_digest, job_id
from .reader import EvaluateModel, Profile, Study, combinations
from .trust import base_problem, patch_trust_issues

#: The job runner of evaluation jobs (:mod:`orchestrator.job.evaluate`).
RUNNER = "orchestrator.job.evaluate:run"
#: Overrides every evaluation profile's ``weights_dir`` (also ``--weights-dir``).
WEIGHTS_ENV = "CM_WEIGHTS_DIR"


@dataclass(frozen=True)
class PublishedModel:
    """One model of a metafile (mmdet's model-index format).

    Attributes:
        results: Dataset (``COCO`` = val2017, ``COCO test-dev``) -> metric (``mask AP``,
            ``box AP``) -> published value.
    """

    name: str
    config: str
    weights: str | None
    results: dict[str, dict[str, float]] = field(default_factory=dict)
    source: str | None = None


@lru_cache(maxsize=8)
def _read_metafile(path: str, mtime_ns: int) -> dict[str, PublishedModel]:
    import yaml

    data = yaml.safe_load(Path(path).read_text()) or {}
    out: dict[str, PublishedModel] = {}
    for m in data.get("Models") or []:
        results: dict[str, dict[str, float]] = {}
        for res in m.get("Results") or []:
            metrics = results.setdefault(str(res.get("Dataset") or "COCO"), {})
            metrics.update({str(k): float(v) for k, v in (res.get("Metrics") or {}).items()
                            if isinstance(v, int | float)})
        out[str(m["Name"])] = PublishedModel(str(m["Name"]), str(m["Config"]), m.get("Weights"),
                                             results, m.get("Source"))
    return out


def _hash_files(paths: list[Path], cache_file: Path) -> dict[str, str]:
    """sha256 of each file, cached by (path, size, mtime) in the planner's file cache."""
    import json

    cache: dict[str, Any] = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    n_before = len(cache)
    out = {str(p): _file_hash(p, cache) for p in paths}
    if len(cache) != n_before:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_name(f"{cache_file.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache))
        tmp.replace(cache_file)
    return out


def read_metafile(path: Path) -> dict[str, PublishedModel]:
    """Name -> model of a ``metafile.yml`` (cached per file and mtime)."""
    return _read_metafile(str(path), path.stat().st_mtime_ns)


def weights_dir(setting: str, repo_root: Path) -> Path:
    """The weights folder: ``$CM_WEIGHTS_DIR``, else ``setting`` (repo-relative or absolute)."""
    path = Path(os.environ.get(WEIGHTS_ENV) or setting).expanduser()
    return path if path.is_absolute() else repo_root / path


def match(models: tuple[EvaluateModel, ...], levels: Mapping[str, str]) -> EvaluateModel | None:
    """The first entry whose ``levels`` the combination has."""
    return next((m for m in models if all(levels.get(a) == lv for a, lv in m.levels.items())),
                None)


def _row_label(study: Study, levels: Mapping[str, str]) -> str:
    """``axis=level,...`` and, when a table row selects exactly these jobs, its name."""
    names = ",".join(f"{a}={lv}" for a, lv in levels.items()) or "(base)"
    for row in (study.table or {}).get("rows") or []:
        sel = {str(a): str(lv) for a, lv in ((row or {}).get("levels") or {}).items()}
        if sel and all(levels.get(a) == lv for a, lv in sel.items()):
            return f"row {row.get('name')!r} ({names})"
    return f"row ({names})"


def _num_classes(node: Any) -> set[int]:
    if isinstance(node, Mapping):
        return {v for k, v in node.items() if k == "num_classes" and isinstance(v, int)} | {
            n for v in node.values() for n in _num_classes(v)}
    if isinstance(node, list | tuple):
        return {n for v in node for n in _num_classes(v)}
    return set()


@dataclass
class _Target:
    """What one evaluation job runs: the entry, its config and weights."""

    entry: EvaluateModel
    model: str  # metafile name, or the config stem
    config_path: Path
    weights: Path


def _resolve_entries(study: Study, profile: Profile, repo_root: Path,
                     problems: list[Problem]) -> dict[int, tuple[str, str, str | None]]:
    """entry index -> (model name, config, weights file name); metafile errors added."""
    ev = profile.evaluate
    assert ev is not None
    path = ("profiles", profile.name, "evaluate")
    out: dict[int, tuple[str, str, str | None]] = {}
    meta: dict[str, PublishedModel] | None = None
    if any(m.published for m in ev.models):
        mf = resolve_config_path(ev.metafile, repo_root)
        try:
            meta = read_metafile(mf)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            problems.append(study.problem((*path, "metafile"), f"cannot read metafile {mf}: "
                                                                f"{exc}"))
            return out
    for m in ev.models:
        mpath = (*path, "models", m.index)
        if m.published:
            assert meta is not None
            pm = meta.get(m.published)
            if pm is None:
                close = sorted(n for n in meta if m.published.split("_")[0] in n)[:5]
                problems.append(study.problem((*mpath, "published"), f"no model "
                                f"{m.published!r} in {ev.metafile}" + (
                                    f"; similar: {', '.join(close)}" if close else "")))
                continue
            weights = m.weights or pm.weights
            if not weights:
                problems.append(study.problem((*mpath, "published"), f"{ev.metafile} lists no "
                                f"Weights for {m.published!r} (nothing was published)"))
                continue
            out[m.index] = (pm.name, m.config or pm.config, weights)
        else:
            assert m.config and m.weights
            out[m.index] = (Path(m.config).stem, m.config, m.weights)
    return out


def plan_evaluation(study: Study, profile: Profile, *, workspace: Path, repo_root: Path,
                    validate_build: bool = True) -> Any:
    """The :class:`~orchestrator.study.plan.Plan` of an evaluation profile.

    Raises:
        StudyError: Every problem found (unknown models, missing weights files, ...).
    """
    from .plan import Plan, PlannedJob, _BuildCache, build_model

    t0 = time.perf_counter()
    ev = profile.evaluate
    assert ev is not None
    problems: list[Problem] = []
    ev_path = ("profiles", profile.name, "evaluate")
    entries = _resolve_entries(study, profile, repo_root, problems)
    folder = weights_dir(ev.weights_dir, repo_root)

    # Which combination runs which entry.
    notes: list[str] = []
    targets: list[tuple[dict[str, str], _Target]] = []
    for combo in combinations(study):
        levels = {lv.axis: lv.name for lv in combo}
        entry = match(ev.models, levels)
        if entry is None:
            notes.append(f"{_row_label(study, levels)}: no published model in profile "
                         f"{profile.name!r}; not evaluated")
            continue
        if entry.index not in entries:
            continue  # its metafile problem is reported once
        name, config, weights = entries[entry.index]
        wfile = folder / str(weights)
        if not wfile.is_file():
            where = "$" + WEIGHTS_ENV if os.environ.get(WEIGHTS_ENV) else "weights_dir"
            problems.append(study.problem(
                (*ev_path, "models", entry.index), f"weights file {wfile} of "
                f"{_row_label(study, levels)} ({name}) does not exist; put the published file "
                f"there or point {where} at its folder"))
            continue
        # The same trust boundary as a study's base: a config is Python and runs when read.
        why = base_problem(config, None, repo_root)
        config_path = resolve_config_path(config, repo_root) if why is None else Path()
        if why is not None or (why := base_problem(config, config_path, repo_root)):
            problems.append(study.problem((*ev_path, "models", entry.index),
                                          f"untrusted config: {why}"))
            continue
        targets.append((levels, _Target(entry, name, config_path, wfile)))
    for part, patch in (("patch", profile.patch), ("override", profile.override)):
        problems += [study.problem(("profiles", profile.name, part, i.key), i.message)
                     for i in patch_trust_issues(patch, repo_root)]
    if problems:
        raise StudyError(list(dict.fromkeys(problems)))

    try:
        data = _dataset(profile, workspace, repo_root)
    except DataError as exc:
        key = ("profiles", profile.name, "data") if study.line(
            "profiles", profile.name, "data") else ("data",)
        raise StudyError([study.problem(key, str(exc))]) from exc

    fingerprint = CodeFingerprint.of(repo_root / "centermask_mm")
    converter = converter_fingerprint(repo_root)
    seeds = profile.seeds or study.seeds[:1]  # a test is deterministic: one seed
    builds = _BuildCache(workspace / "cache" / "builds.json" if validate_build else None)
    cache_file = workspace / "cache" / "files.json"
    hashes = _hash_files([t.weights for _, t in targets], cache_file)
    jobs: list[Any] = []
    base_config: dict[str, Any] = {}
    for levels, t in targets:
        epath = (*ev_path, "models", t.entry.index)
        try:
            tree = load_base(t.config_path)
        except ConfigLoadError as exc:
            problems.append(study.problem(epath, f"cannot load config of {t.model}: {exc}"))
            continue
        tree, issues = apply_patch(tree, profile.patch)
        tree, more = apply_patch(tree, profile.override)
        if issues or more:
            problems += [study.problem(("profiles", profile.name, part, i.key),
                                       f"{i.message} (in {t.config_path.name})")
                         for part, group in (("patch", issues), ("override", more))
                         for i in group]
            continue
        sha = hashes[str(t.weights)]
        identity = {"type": RUNNER, "weights_sha256": sha, "published": t.model,
                    "converter": converter}
        tree = {**tree, "load_from": None, "job_runner": identity}
        chash = config_hash(tree)
        bound = bind(tree, data)
        code = fingerprint(bound)
        before, after = _num_classes(tree.get("model")), _num_classes(bound.get("model"))
        if before != after:
            problems.append(study.problem(("profiles", profile.name, "data"), (
                f"{t.model} predicts {sorted(before)} classes but the data set "
                f"({data.tag}) has {sorted(after)}: evaluate on COCO, or on the toy set made "
                "with --coco-categories (CM_TOY_ROOT)")))
            continue
        try:
            data_manifest = manifest(bound, data, cache_file)
        except DataError as exc:
            raise StudyError([study.problem(["data"], str(exc))]) from exc
        if validate_build:
            model_key = hashlib.sha256((canonical(bound["model"]) + code).encode()).hexdigest()
            if model_key not in builds.ok:
                try:
                    build_model(bound)
                    builds.add(model_key)
                except Exception as exc:  # noqa: BLE001 - reported with the study's lines
                    problems.append(study.problem(epath, f"model {t.model} fails to build: "
                                                         f"{exc}".splitlines()[0][:400]))
                    continue
        base_config = base_config or tree
        runner = {**identity, "weights": str(t.weights),
                  "cache_dir": str(workspace / "converted")}
        name = ",".join(f"{a}={lv}" for a, lv in levels.items())
        for seed in seeds:
            final = {**bound, "job_runner": runner,
                     "randomness": {**(bound.get("randomness") or {}), "seed": seed}}
            jobs.append(PlannedJob(
                job_id=job_id(chash, seed, data_manifest, code),
                name=f"{name} seed={seed}".strip(), levels=dict(levels), seed=seed,
                config=final, config_hash=chash,
                diff=[("evaluate", t.weights.name, t.model)],
                family=f"{t.config_path.stem}:{profile.name}", mode="evaluate",
                tags={"cm.mode": "evaluate", "cm.weights_file": t.weights.name,
                      "cm.weights_sha256": sha, "cm.published_model": t.model}, code=code))
    builds.save()
    if problems:
        raise StudyError(list(dict.fromkeys(problems)))
    if not jobs:
        raise StudyError([study.problem(ev_path, "no combination has a published model")])
    seconds = {"total": time.perf_counter() - t0}
    return Plan(study=study, profile=profile, dataset=data, base_path=targets[0][1].config_path,
                base_config=base_config, jobs=jobs, seconds=seconds, notes=notes,
                fingerprint=fingerprint)



def converter_fingerprint(repo_root: Path) -> str:
    """sha256 (16 hex) of the converter's code (:func:`~.identity.code_digest`: prose
    excluded): part of an evaluation job's identity and of its cached conversion's name, so
    a converter fix converts and evaluates again."""
    h = hashlib.sha256()
    folder = repo_root / "centermask_mm" / "converters" / "centermask2"
    for path in sorted(folder.glob("*.py")):
        h.update(f"{path.name}\0{file_code_digest(path)}\0".encode())
    return h.hexdigest()[:16]


def _dataset(profile: Profile, workspace: Path, repo_root: Path) -> Dataset:
    """The profile's data; the toy set, when chosen, is the one with COCO's categories (its
    own folder, ``<workspace>/data/toy-coco``, unless ``$CM_TOY_ROOT`` names one)."""
    from centermask_mm.datasets import toy

    spec = None if os.environ.get("CM_TOY_ROOT") else toy.ToySpec(coco_categories=True)
    return resolve_dataset(profile.data, workspace, repo_root, toy_spec=spec)


def published_references(study: Study, profile_name: str | None, repo_root: Path
                         ) -> dict[str, tuple[str, str, dict[str, float]]]:
    """The published AP of the model each table row of an evaluation profile tests.

    Returns:
        row name -> (metafile model name, dataset of the numbers, {'segm_mAP': mask AP,
        'bbox_mAP': box AP}); COCO val2017 numbers where the metafile lists them, else its
        first other data set (test-dev). Empty for a profile without ``evaluate``.
    """
    profile = study.profile(profile_name)
    ev = profile.evaluate
    if ev is None or not study.table:
        return {}
    entries = _resolve_entries(study, profile, repo_root, [])
    mf = resolve_config_path(ev.metafile, repo_root)
    meta = read_metafile(mf) if mf.exists() else {}
    refs: dict[str, tuple[str, str, dict[str, float]]] = {}
    for row in study.table.get("rows") or []:
        sel = {str(a): str(lv) for a, lv in ((row or {}).get("levels") or {}).items()}
        entry = match(ev.models, sel)
        pm = meta.get(entries[entry.index][0]) if entry and entry.index in entries else None
        if pm is None or not pm.results:
            continue
        dataset = "COCO" if "COCO" in pm.results else next(iter(pm.results))
        values = {col: pm.results[dataset][key] for col, key in (
            ("segm_mAP", "mask AP"), ("bbox_mAP", "box AP")) if key in pm.results[dataset]}
        if values:
            refs[str(row["name"])] = (pm.name, dataset, values)
    return refs

