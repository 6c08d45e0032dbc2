"""Study text -> validated :class:`~orchestrator.study.model.Study` (:func:`parse_study`).

Everything that can be checked from the file alone is checked here (schema, names, types
of the study's own fields, references between sections), and every problem is reported at
once with its file, line and key. Checks that need the resolved config (patch keys exist,
types match, no-op levels, the model builds) are in :mod:`orchestrator.study.plan`. The
schema is ``docs/contracts.md`` §5; extensions are listed in ``experiments/README.md``.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import fields, model
from .errors import Problem, StudyError
from .fields import FieldReader, check_name, selection
from .loading import load_yaml
from .model import KINDS, LEVEL_BASE_KEY, Axis, Level, Path_, Resources, Study
from .profiles import read_profiles

#: Top-level keys of every study. A study kind may allow more (see :data:`KINDS`).
TOP_LEVEL_KEYS: frozenset[str] = frozenset({
    "name", "description", "kind", "base", "data", "axes", "expand", "rows", "exclude",
    "seeds", "profiles", "default_profile", "resources", "table", "retries", "executor"})
#: Options of the ``executor:`` section, per executor (docs/cluster.md).
EXECUTOR_OPTIONS: Mapping[str, frozenset[str]] = {
    "slurm": frozenset({"partition", "account", "qos", "time", "mem", "constraint",
                        "sbatch"})}


def _level_name(r: FieldReader, name: Any, path: Path_) -> str:
    if isinstance(name, bool) or name is None:
        r.bad(path, f"level name {name!r} was read by YAML as a {type(name).__name__}; "
                    "quote it (e.g. 'on', 'off', 'yes', 'no', 'null' need quotes)")
    return str(name)


def _level(r: FieldReader, axis: str, name: Any, raw: Any, path: Path_) -> Level:
    patch = r.patch(raw, path)
    base = patch.pop(LEVEL_BASE_KEY, None)
    if isinstance(raw, dict) and LEVEL_BASE_KEY in raw and (not isinstance(base, str) or not base):
        r.bad((*path, LEVEL_BASE_KEY), f"{LEVEL_BASE_KEY} must be a config path (as a study's "
                                       f"base), got {base!r}")
        base = None
    return Level(axis, _level_name(r, name, path), patch, r.line(path), base)


def parse_study(text: str, path: str | Path) -> Study:
    """Validate the study text (``path`` is used in messages and to resolve nothing else).

    Raises:
        StudyError: Listing every problem found, each with file, line and key.
    """
    file = str(path)
    raw, lines, problems = load_yaml(text, file)
    r = FieldReader(file, lines)
    r.problems.extend(problems)
    if problems:
        raise StudyError(r.problems)
    if not isinstance(raw, dict):
        raise StudyError([Problem(file, 1, "", "a study file is a YAML mapping")])

    kind = r.choice(raw.get("kind"), ("kind",), KINDS, "ablation")
    r.mapping(raw, (), TOP_LEVEL_KEYS | KINDS[kind].extra_keys)
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        r.bad(("name",), "every study needs a non-empty string 'name' (the MLflow experiment)")
        name = Path(file).stem
    base = raw.get("base")
    if not isinstance(base, str) or not base:
        r.bad(("base",), "every study needs 'base': a config path relative to the repo root")
        base = ""
    description = raw.get("description") or ""
    data = r.choice(raw.get("data"), ("data",), model.DATA_CHOICES, "auto")
    expand = r.choice(raw.get("expand"), ("expand",), model.EXPAND_CHOICES, "product")
    seeds = r.seeds(raw.get("seeds"), ("seeds",))
    resources = r.resources(raw.get("resources"), ("resources",), Resources())
    retries = raw.get("retries", 2)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 100:
        r.bad(("retries",), f"retries must be an integer in 0..100, got {retries!r}")
        retries = 2
    check_name(r, ("name",), name, "study name", fields.MAX_STUDY_NAME, fields.STUDY_NAME)

    # Axes: ordered mapping axis -> ordered mapping level -> patch.
    axes: dict[str, Axis] = {}
    raw_axes = raw.get("axes")
    if "axes" in raw and not raw_axes:
        r.bad(("axes",), "'axes' is empty; remove it for a single-job study or add levels")
    for axis_name, levels_raw in r.mapping(raw_axes, ("axes",)).items():
        apath = ("axes", axis_name)
        if not isinstance(levels_raw, dict) or not levels_raw:
            r.bad(apath, "an axis needs at least one level (a mapping level name -> patch)")
            continue
        levels = tuple(_level(r, str(axis_name), lv_name, patch, (*apath, lv_name))
                       for lv_name, patch in levels_raw.items())
        names = Counter(lv.name for lv in levels)
        for dup in (n for n, k in names.items() if k > 1):
            r.bad(apath, f"duplicate level name {dup!r}")
        check_name(r, apath, str(axis_name), "axis name", fields.MAX_AXIS_NAME,
                   fields.KEY_NAME)
        for lv in levels:
            check_name(r, (*apath, lv.name), lv.name, "level name", fields.MAX_LEVEL_NAME,
                       None)
        axes[str(axis_name)] = Axis(str(axis_name), levels, r.line(apath))
    longest = sum(max(len(a.name) + len(lv.name) + 2 for lv in a.levels)
                  for a in axes.values()) + len(" seed=4294967295")
    if axes and longest > fields.MAX_RUN_NAME:
        r.bad(("axes",), f"the longest job name (its MLflow run name: axis=level,... seed=N) "
                         f"has {longest} characters; MLflow keeps {fields.MAX_RUN_NAME}: "
                         "shorten axis or level names")

    rows = tuple(selection(r, row, ("rows", i), axes, complete=True)
                 for i, row in enumerate(raw.get("rows") or []))
    if expand == "rows" and not rows:
        r.bad(("rows",), "expand: rows needs a non-empty 'rows' list")
    if expand != "rows" and raw.get("rows"):
        r.bad(("rows",), f"'rows' is only used with expand: rows (expand is {expand!r})")
    if expand == "zip" and len({len(a.levels) for a in axes.values()}) > 1:
        r.bad(("expand",), "expand: zip needs the same number of levels on every axis; got "
                           + ", ".join(f"{a.name}={len(a.levels)}" for a in axes.values()))
    exclude = tuple(selection(r, ex, ("exclude", i), axes, complete=False)
                    for i, ex in enumerate(raw.get("exclude") or []))

    profiles, merged_profiles = read_profiles(
        r, raw.get("profiles"), extra_keys=KINDS[kind].extra_keys, data=data,
        resources=resources, axes=axes)
    default_profile = raw.get("default_profile", next(iter(profiles)))
    if default_profile not in profiles:
        r.bad(("default_profile",), f"no profile {default_profile!r}; profiles are "
                                     f"{sorted(profiles)}")
        default_profile = next(iter(profiles))

    executor = _executor_section(r, raw.get("executor"))
    table = raw.get("table")
    if table is not None:
        t = r.mapping(table, ("table",))
        for i, row in enumerate(t.get("rows") or []):
            if isinstance(row, dict):
                selection(r, row.get("levels"), ("table", "rows", i, "levels"), axes,
                           complete=False)
            else:
                r.bad(("table", "rows", i), "a table row is a mapping with 'name' and 'levels'")

    if r.problems:
        raise StudyError(r.problems)
    if merged_profiles:  # what the profiles say once their includes are merged in
        raw = {**raw, "profiles": merged_profiles}
    return Study(path=Path(file), name=name, description=str(description), kind=kind,
                 base=base, data=data, axes=tuple(axes.values()), expand=expand, rows=rows,
                 exclude=exclude, seeds=seeds, profiles=profiles,
                 default_profile=str(default_profile), resources=resources, retries=retries,
                 table=table, raw=raw, lines=lines, executor=executor, sources=r.sources)


def _executor_section(r: FieldReader, value: Any) -> dict[str, dict[str, Any]]:
    """``executor: {slurm: {partition: ..., sbatch: [...]}}``: options per executor."""
    out: dict[str, dict[str, Any]] = {}
    for name, opts in r.mapping(value, ("executor",), frozenset(EXECUTOR_OPTIONS)).items():
        if name not in EXECUTOR_OPTIONS:
            continue  # reported by mapping()
        raw = r.mapping(opts, ("executor", name), EXECUTOR_OPTIONS[name])
        clean: dict[str, Any] = {}
        for key, v in raw.items():
            if key == "sbatch":
                if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                    r.bad(("executor", name, key), "sbatch must be a list of option strings")
                    continue
                clean[key] = list(v)
            elif isinstance(v, str | int) and not isinstance(v, bool):
                clean[key] = str(v)
            else:
                r.bad(("executor", name, key), f"{key} must be a string, got {v!r}")
        out[str(name)] = clean
    return out
