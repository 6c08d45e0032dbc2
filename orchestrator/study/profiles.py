"""A study's ``profiles`` section: budgets, shared profile files, evaluation sections.

Each profile is read into a :class:`~orchestrator.study.model.Profile`; ``include:`` merges
shared profile files (``experiments/profiles/<name>.yaml``) under the profile's own keys
(``docs/contracts.md`` §5); ``evaluate:`` (published checkpoints tested, not trained) and
``batch:`` (the paper's recipe) are read here and planned by
:mod:`orchestrator.study.evaluate` and :mod:`orchestrator.study.batch`.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .batch import BatchSpec
from .batch import parse as parse_batch
from .errors import Problem, StudyError
from .fields import KEY_NAME, MAX_PROFILE_NAME, FieldReader, check_name, selection
from .loading import load_yaml, read_study_text
from .model import DATA_CHOICES, Axis, Evaluate, EvaluateModel, Path_, Profile, Resources

#: Keys of a profile (a study kind may allow more, see :data:`~orchestrator.study.model.KINDS`).
PROFILE_KEYS: frozenset[str] = frozenset({
    "description", "data", "patch", "override", "base", "seeds", "resources", "evaluate",
    "batch", "include"})
#: Where ``profiles.P.include: <name>`` looks: ``experiments/profiles/<name>.yaml``. A name,
#: not a path, so an included file is always one of the repository's shared profiles.
PROFILES_DIR = Path(__file__).resolve().parents[2] / "experiments" / "profiles"
#: Sections of a profile merged key by key with an included file's (the profile's keys win);
#: any other key the profile sets replaces the included one whole.
MERGED_PROFILE_KEYS: frozenset[str] = frozenset({"patch", "override", "resources"})
#: Keys of a profile's ``evaluate`` section and of one of its ``models`` entries.
EVALUATE_KEYS: frozenset[str] = frozenset({"weights_dir", "metafile", "models"})
EVALUATE_MODEL_KEYS: frozenset[str] = frozenset({"levels", "published", "weights", "config"})
#: The model index ``evaluate.models[].published`` names are looked up in.
DEFAULT_METAFILE = "configs/centermask/metafile.yml"


def read_profiles(r: FieldReader, value: Any, *, extra_keys: frozenset[str], data: str,
                  resources: Resources, axes: Mapping[str, Axis]
                  ) -> tuple[dict[str, Profile], dict[Any, Any]]:
    """The ``profiles`` section: ``(name -> Profile, name -> its raw keys once its includes
    are merged in)``. A study without profiles has one, ``default``: the study's data and
    resources, no patch.

    Args:
        r: The study's field reader (problems are collected there).
        value: The raw ``profiles`` mapping.
        extra_keys: Keys the study's kind adds to a profile (``search``).
        data, resources: The study's, which a profile's own replace.
        axes: The study's axes (an ``evaluate`` entry selects levels of them).
    """
    profiles: dict[str, Profile] = {}
    merged_profiles: dict[Any, Any] = {}
    for p_name, p_raw in r.mapping(value, ("profiles",)).items():
        ppath = ("profiles", p_name)
        p = r.mapping(p_raw, ppath, PROFILE_KEYS | extra_keys)
        if "include" in p:
            p = _include(r, p, ppath, PROFILE_KEYS - {"include"} | extra_keys)
        merged_profiles[p_name] = p
        check_name(r, ppath, str(p_name), "profile name", MAX_PROFILE_NAME, KEY_NAME)
        p_base = p.get("base")
        if p_base is not None and not isinstance(p_base, str):
            r.bad((*ppath, "base"), "base must be a config path")
            p_base = None
        profiles[str(p_name)] = Profile(
            name=str(p_name),
            data=r.choice(p.get("data"), (*ppath, "data"), DATA_CHOICES, data),
            patch=r.patch(p.get("patch", {}), (*ppath, "patch")),
            override=r.patch(p.get("override", {}), (*ppath, "override")),
            base=p_base,
            seeds=r.seeds(p["seeds"], (*ppath, "seeds")) if "seeds" in p else None,
            resources=r.resources(p.get("resources"), (*ppath, "resources"), resources),
            line=r.line(ppath), batch=_batch(r, p.get("batch"), (*ppath, "batch")),
            evaluate=_evaluate(r, p["evaluate"], (*ppath, "evaluate"), axes)
            if "evaluate" in p else None)
    if not profiles:
        profiles["default"] = Profile("default", data, {}, None, None, resources, 0)
    return profiles, merged_profiles


def _evaluate(r: FieldReader, value: Any, path: Path_, axes: Mapping[str, Axis]) -> Evaluate:
    """A profile's ``evaluate`` section (metafile names are checked by the planner)."""
    raw = r.mapping(value, path, EVALUATE_KEYS)
    weights_dir = raw.get("weights_dir")
    if not isinstance(weights_dir, str) or not weights_dir:
        r.bad((*path, "weights_dir"), "evaluate needs 'weights_dir': the folder holding the "
                                      "weights files (repo-relative or absolute)")
        weights_dir = ""
    metafile = raw.get("metafile", DEFAULT_METAFILE)
    if not isinstance(metafile, str) or not metafile:
        r.bad((*path, "metafile"), "metafile must be a path (repo-relative or absolute)")
        metafile = DEFAULT_METAFILE
    models_raw = raw.get("models")
    if not isinstance(models_raw, list) or not models_raw:
        r.bad((*path, "models"), "evaluate needs 'models': a list of {levels, published} "
                                 "(a metafile model name) or {levels, weights, config}")
        models_raw = []
    models = []
    for i, m_raw in enumerate(models_raw):
        mpath = (*path, "models", i)
        m = r.mapping(m_raw, mpath, EVALUATE_MODEL_KEYS)
        levels = selection(r, m.get("levels"), (*mpath, "levels"), axes, complete=False)
        fields = {}
        for key in ("published", "weights", "config"):
            v = m.get(key)
            if v is not None and (not isinstance(v, str) or not v):
                r.bad((*mpath, key), f"{key} must be a non-empty string, got {v!r}")
                v = None
            fields[key] = v
        if m and not fields["published"] and not (fields["weights"] and fields["config"]):
            r.bad(mpath, "name a metafile model ('published: <Name>') or give both 'weights' "
                         "(a file name in weights_dir) and 'config'")
        models.append(EvaluateModel(levels, fields["published"], fields["weights"],
                                    fields["config"], i, r.line(mpath)))
    return Evaluate(weights_dir, metafile, tuple(models))


def _include(r: FieldReader, p: Mapping[Any, Any], ppath: Path_, allowed: frozenset[str]
             ) -> dict[Any, Any]:
    """A profile with its ``include:`` files merged in (``docs/contracts.md`` §5).

    ``include`` names one shared profile file, ``experiments/profiles/<name>.yaml``, or a
    list of them (a later file wins over an earlier one). The profile's own keys win over
    the files'; ``patch``, ``override`` and ``resources`` are merged key by key. Problems in
    an included file name that file and line (recorded in ``r.sources``).
    """
    names = p["include"] if isinstance(p["include"], list) else [p["include"]]
    merged: dict[Any, Any] = {}
    for i, name in enumerate(names):
        ipath = (*ppath, "include") if isinstance(p["include"], str) else (*ppath, "include", i)
        if not isinstance(name, str) or not KEY_NAME.match(name) or ".." in name:
            r.bad(ipath, f"include names a shared profile file of {PROFILES_DIR.parent.name}/"
                         f"{PROFILES_DIR.name}/ by its name without '.yaml' (letters, digits, "
                         f"'_', '-', '.'; no path), got {name!r}")
            continue
        file = PROFILES_DIR / f"{name}.yaml"
        if not file.is_file():
            known = sorted(f.stem for f in PROFILES_DIR.glob("*.yaml"))
            r.bad(ipath, f"no shared profile {name!r} ({file} does not exist); shared "
                         f"profiles are {known}")
            continue
        try:
            data, lines, problems = load_yaml(read_study_text(file), str(file))
        except StudyError as exc:
            r.problems.extend(exc.problems)
            continue
        r.problems.extend(problems)
        if problems:
            continue
        if not isinstance(data, dict):
            r.problems.append(Problem(str(file), 1, "", "a shared profile file is a YAML "
                                                        "mapping of profile keys"))
            continue
        for key in data:
            if key not in allowed:
                r.problems.append(Problem(str(file), lines.get((key,), 0), str(key), (
                    f"unknown key {key!r} in a shared profile; allowed: "
                    f"{', '.join(sorted(allowed))}")))
        for sub, line in lines.items():
            if sub and sub[0] in allowed:
                r.sources[(*ppath, *sub)] = (str(file), line)
        _merge_profile(merged, {k: v for k, v in data.items() if k in allowed})
    _merge_profile(merged, {k: v for k, v in p.items() if k != "include"})
    return merged


def _merge_profile(into: dict[Any, Any], top: Mapping[Any, Any]) -> None:
    """``top``'s keys over ``into``'s; :data:`MERGED_PROFILE_KEYS` sections key by key."""
    for key, value in top.items():
        if key in MERGED_PROFILE_KEYS and isinstance(into.get(key), dict) \
                and isinstance(value, dict):
            into[key] = {**into[key], **value}
        else:
            into[key] = value


def _batch(r: FieldReader, value: Any, path: Path_) -> BatchSpec | None:
    """A profile's ``batch:`` section (see :mod:`orchestrator.study.batch`)."""
    spec, problems = parse_batch(value)
    for sub, message in problems:
        r.bad((*path, *sub), message)
    return spec
