"""Study files: YAML -> validated :class:`Study` -> combinations of axis levels.

This module checks everything that can be checked from the file alone (schema, names,
types of the study's own fields, references between sections). Checks that need the
resolved config (patch keys exist, types match, no-op levels, the model builds) are in
:mod:`orchestrator.study.plan`. The schema is ``docs/contracts.md`` §5; extensions are listed in
``experiments/README.md``.
"""
from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .batch import BatchSpec
from .batch import parse as parse_batch
from .configs import patch_key_path
from .errors import Problem, StudyError

Path_ = tuple[Any, ...]  # a key path inside the YAML document

#: Top-level keys of every study. A study kind may allow more (see :data:`KINDS`).
TOP_LEVEL_KEYS: frozenset[str] = frozenset({
    "name", "description", "kind", "base", "data", "axes", "expand", "rows", "exclude",
    "seeds", "profiles", "default_profile", "resources", "table", "retries", "executor"})
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
RESOURCE_KEYS: frozenset[str] = frozenset({"gpus_per_job", "cpus_per_job", "procs_per_job",
                                           "nodes_per_job"})
#: Options of the ``executor:`` section, per executor (docs/cluster.md).
EXECUTOR_OPTIONS: Mapping[str, frozenset[str]] = {
    "slurm": frozenset({"partition", "account", "qos", "time", "mem", "constraint",
                        "sbatch"})}
DATA_CHOICES: tuple[str, ...] = ("auto", "coco", "toy", "none")
EXPAND_CHOICES: tuple[str, ...] = ("product", "zip", "rows")


@dataclass(frozen=True)
class StudyKind:
    """A kind of study: extra keys it accepts and whether this module expands it.

    A search study (Optuna) registers its own kind with ``extra_keys={"search"}``: a
    top-level ``search:`` section, which a profile may override (``profiles.P.search``;
    parsed by :mod:`orchestrator.search.space`). Its trials are not a fixed list, so
    :func:`combinations` refuses it.
    """

    name: str
    extra_keys: frozenset[str] = frozenset()
    fixed_jobs: bool = True


#: Registered study kinds. Add one with ``KINDS[k.name] = k``.
KINDS: dict[str, StudyKind] = {
    "ablation": StudyKind("ablation"),
    "search": StudyKind("search", frozenset({"search"}), fixed_jobs=False),
}


@dataclass(frozen=True)
class Level:
    """One named level of an axis: a patch of dotted config keys.

    Attributes:
        axis: Axis name.
        name: Level name (used in tags ``cm.level.<axis>``).
        patch: Dotted config key -> value. A leading ``+`` adds a key the config lacks.
            (Without the level's ``_base_`` key, which is :attr:`base`.)
        line: Line of the level in the study file.
    """

    axis: str
    name: str
    patch: Mapping[str, Any]
    line: int
    #: ``_base_: <config>``: the level's combinations start from this config instead of the
    #: study's (its patch and the other axes' levels apply on top), e.g. a detector of
    #: another family that exists as a config. ``None``: the study's (or profile's) base.
    base: str | None = None

    def key_line(self, key: str, lines: Mapping[Path_, int]) -> int:
        return lines.get(("axes", self.axis, self.name, key), self.line)


@dataclass(frozen=True)
class Axis:
    name: str
    levels: tuple[Level, ...]
    line: int

    def level(self, name: str) -> Level | None:
        return next((lv for lv in self.levels if lv.name == name), None)


@dataclass(frozen=True)
class Resources:
    """Per-job resources.

    Attributes:
        gpus_per_job: GPUs one job needs; a fraction packs several jobs on one GPU; more
            than one runs one data-parallel process per GPU (docs/cluster.md).
        cpus_per_job: CPU threads of each process (also the CPU-only parallelism unit).
        procs_per_job: Data-parallel processes of a job on CPUs (gloo).
        nodes_per_job: Nodes a job's processes spread over (Slurm only).
    """

    gpus_per_job: float = 1.0
    cpus_per_job: int = 1
    procs_per_job: int = 1
    nodes_per_job: int = 1


@dataclass(frozen=True)
class EvaluateModel:
    """One ``evaluate.models`` entry: the combinations it selects and what they test.

    Attributes:
        levels: axis -> level; a combination with all of them runs this entry (the first
            entry that matches wins).
        published: A model ``Name`` of the metafile (its ``Config`` and ``Weights``).
        weights: Weights file name in the weights folder (overrides the metafile's).
        config: Config to test with (overrides the metafile's).
        index: Position in ``models`` (for messages).
        line: Line of the entry in the study file.
    """

    levels: Mapping[str, str]
    published: str | None
    weights: str | None
    config: str | None
    index: int
    line: int


@dataclass(frozen=True)
class Evaluate:
    """A profile's ``evaluate`` section: test published checkpoints, train nothing.

    Attributes:
        weights_dir: Folder of the weights files (repo-relative or absolute;
            ``$CM_WEIGHTS_DIR`` / ``--weights-dir`` override it).
        metafile: Model index (mmdet's ``metafile.yml`` format) ``published`` names refer to.
        models: The entries, in order.
    """

    weights_dir: str
    metafile: str
    models: tuple[EvaluateModel, ...]


@dataclass(frozen=True)
class Profile:
    """A budget for the study (paper schedule on COCO, toy schedule on a CPU...).

    Attributes:
        name: Profile name (``--profile``).
        data: ``auto`` | ``coco`` | ``toy`` | ``none``.
        patch: Config keys every job of the profile gets (applied before the levels).
        override: Config keys applied *after* the levels (e.g. a toy schedule that must win
            over a level's own schedule).
        base: Base config replacing the study's for this profile, or ``None``.
        seeds: Seeds replacing the study's for this profile, or ``None``.
        resources: Resources of the profile's jobs.
        line: Line of the profile in the study file (0 for the implicit one).
        evaluate: Evaluation only (no training): see :mod:`orchestrator.study.evaluate`.
        batch: The paper's recipe and the rule for fewer GPUs
            (:class:`orchestrator.study.batch.BatchSpec`), or ``None``.
    """

    name: str
    data: str
    patch: Mapping[str, Any]
    base: str | None
    seeds: tuple[int, ...] | None
    resources: Resources
    line: int
    override: Mapping[str, Any] = field(default_factory=dict)
    evaluate: Evaluate | None = None
    batch: BatchSpec | None = None


@dataclass(frozen=True)
class Study:
    """A validated study file."""

    path: Path
    name: str
    description: str
    kind: str
    base: str
    data: str
    axes: tuple[Axis, ...]
    expand: str
    rows: tuple[Mapping[str, str], ...]
    exclude: tuple[Mapping[str, str], ...]
    seeds: tuple[int, ...]
    profiles: Mapping[str, Profile]
    default_profile: str
    resources: Resources
    retries: int
    table: Mapping[str, Any] | None
    raw: Mapping[str, Any] = field(repr=False)
    lines: Mapping[Path_, int] = field(repr=False)
    #: Key paths that came from the command line (``--set``/``--sweep``; see
    #: :mod:`orchestrator.study.overrides`) -> the option, which problems name instead.
    origins: Mapping[Path_, str] = field(default_factory=dict, repr=False)
    executor: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: Key paths whose value came from an included profile file -> (that file, its line),
    #: which problems name instead of the study file.
    sources: Mapping[Path_, tuple[str, int]] = field(default_factory=dict, repr=False)

    def line(self, *path: Any) -> int:
        """Line of ``path`` in the file, or of its nearest ancestor that has one."""
        p: Path_ = tuple(path)
        while p and p not in self.lines:
            p = p[:-1]
        return self.lines.get(p, 0)

    def problem(self, path: Iterable[Any], message: str) -> Problem:
        path = tuple(path)
        option = self.origin(path)
        if option is not None:  # a --set/--sweep: "command line: --set a.b=1: message"
            return Problem("command line", 0, option, message)
        return Problem(*_where(path, str(self.path), self.lines, self.sources),
                       ".".join(map(str, path)), message)

    def origin(self, path: Iterable[Any]) -> str | None:
        """The command-line option ``path`` (or an ancestor of it) came from, if any."""
        p: Path_ = tuple(path)
        while p:
            if p in self.origins:
                return self.origins[p]
            p = p[:-1]
        return None

    def profile(self, name: str | None) -> Profile:
        name = name or self.default_profile
        if name not in self.profiles:
            raise StudyError([self.problem(["profiles"], f"no profile {name!r}; the study has "
                                           f"{sorted(self.profiles)}")])
        return self.profiles[name]

    def axis(self, name: str) -> Axis | None:
        return next((a for a in self.axes if a.name == name), None)


def _where(path: Path_, file: str, lines: Mapping[Path_, int],
           sources: Mapping[Path_, tuple[str, int]]) -> tuple[str, int]:
    """File and line of ``path``: its nearest ancestor in the study file (``lines``) or in an
    included profile file (``sources``)."""
    p = path
    while p:
        if p in lines:
            return file, lines[p]
        if p in sources:
            return sources[p]
        p = p[:-1]
    return file, lines.get((), 0)


# --------------------------------------------------------------------------- YAML + lines

class _StudyLoader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-4`` as a float (YAML 1.1 wants ``1.0e-4``)."""


_StudyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))

#: Limits of a study file (data a person types, far below these): bytes, values after
#: expanding YAML aliases (a "billion laughs" stops here, not in swap), nesting depth.
MAX_STUDY_BYTES = 1 << 20
MAX_YAML_VALUES = 200_000
MAX_YAML_DEPTH = 64
#: Tags a study file may carry: YAML's plain data. ``!!python/...``, ``!!set``, local tags
#: (``!foo``) and merge keys (``<<``) are rejected with their line, never dropped.
_PLAIN_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in (
    "map", "seq", "str", "int", "float", "bool", "null", "timestamp"))


class _TooBig(Exception):
    """The document expands beyond :data:`MAX_YAML_VALUES` or :data:`MAX_YAML_DEPTH`."""


def read_study_text(path: Path) -> str:
    """The text of a study file: at most :data:`MAX_STUDY_BYTES`, UTF-8.

    Raises:
        StudyError: Unreadable, too large, or not UTF-8 (naming the line of the bad byte).
    """
    try:
        size = path.stat().st_size
        if size > MAX_STUDY_BYTES:
            raise StudyError([Problem(str(path), 0, "", (
                f"{size:,} bytes; a study file is at most {MAX_STUDY_BYTES:,} bytes"))])
        data = path.read_bytes()
    except OSError as exc:
        raise StudyError([Problem(str(path), 0, "", f"cannot read: {exc.strerror}")]) from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise StudyError([Problem(str(path), line, "", (
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} at line {line}, column {col}; "
            "save the file as UTF-8"))]) from None


def load_yaml(text: str, file: str) -> tuple[Any, dict[Path_, int], list[Problem]]:
    """Parse YAML keeping the line of every key; duplicate keys are problems, not overwrites.

    Bounded: plain-data tags only, at most :data:`MAX_YAML_VALUES` values after alias
    expansion and :data:`MAX_YAML_DEPTH` levels of nesting (each a problem, not a hang).

    Returns:
        (data, lines, problems): ``lines`` maps a key path to its 1-based line.
    """
    loader = _StudyLoader(text)
    lines: dict[Path_, int] = {}
    problems: list[Problem] = []
    count = 0
    try:
        node = loader.get_single_node()

        def walk(node: yaml.Node, path: Path_) -> Any:
            nonlocal count
            count += 1
            if count > MAX_YAML_VALUES:
                raise _TooBig(f"more than {MAX_YAML_VALUES:,} values once YAML aliases "
                              "(*name) are expanded; a study file is small plain data")
            if len(path) > MAX_YAML_DEPTH:
                raise _TooBig(f"nested deeper than {MAX_YAML_DEPTH} levels")
            lines.setdefault(path, node.start_mark.line + 1)
            if node.tag not in _PLAIN_TAGS:
                problems.append(Problem(file, node.start_mark.line + 1, ".".join(map(
                    str, path)), f"YAML tag {node.tag!r} is not allowed: a study file holds "
                    "plain data (mappings, lists, strings, numbers, booleans, null)"))
                return None
            if isinstance(node, yaml.MappingNode):
                out: dict[Any, Any] = {}
                for k_node, v_node in node.value:
                    if not isinstance(k_node, yaml.ScalarNode) or k_node.tag not in _PLAIN_TAGS:
                        what = ("merge keys (<<) are not supported"
                                if k_node.tag.endswith(":merge") else
                                f"keys must be plain scalars (got tag {k_node.tag!r})")
                        problems.append(Problem(file, k_node.start_mark.line + 1,
                                                ".".join(map(str, path)), what))
                        continue
                    key = loader.construct_object(k_node, deep=True)
                    if not isinstance(key, str | int | float | bool) and key is not None:
                        problems.append(Problem(file, k_node.start_mark.line + 1,
                                                ".".join(map(str, path)),
                                                "keys must be plain scalars"))
                        continue
                    if key in out:
                        problems.append(Problem(
                            file, k_node.start_mark.line + 1, ".".join(map(str, (*path, key))),
                            f"duplicate key (first at line {lines[(*path, key)]})"))
                        continue
                    at = k_node.start_mark.index
                    if isinstance(key, str) and at > 0 and text[at - 1] == "?":
                        # Inside {...}, YAML takes '?key' as its explicit-key indicator and
                        # drops the '?' the patch syntax needs.
                        problems.append(Problem(
                            file, k_node.start_mark.line + 1, ".".join(map(str, (*path, key))),
                            f"YAML dropped the '?' of '?{key}' (its explicit-key indicator "
                            f"inside {{...}}): quote it, \"?{key}\", or use block style"))
                    lines[(*path, key)] = k_node.start_mark.line + 1
                    out[key] = walk(v_node, (*path, key))
                return out
            if isinstance(node, yaml.SequenceNode):
                return [walk(v, (*path, i)) for i, v in enumerate(node.value)]
            return loader.construct_object(node, deep=True)

        data = walk(node, ()) if node is not None else None
    except _TooBig as exc:
        problems.append(Problem(file, 0, "", str(exc)))
        data = None
    except RecursionError:
        problems.append(Problem(file, 0, "", f"nested deeper than {MAX_YAML_DEPTH} levels"))
        data = None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        problems.append(Problem(file, line, "", f"not valid YAML: {exc}"))
        data = None
    finally:
        loader.dispose()
    return data, lines, problems


# --------------------------------------------------------------------------- names

#: What MLflow (3.17) and mmengine accept, checked before anything is queued. The study name
#: is the experiment's (MLflow: 500; its SQL column: 256) and, with `` [profile]``, the
#: parent run's name (250); an axis name is in the param key ``level.<axis>`` and the tag
#: key ``cm.level.<axis>`` (250); seeds go to numpy's ``seed`` (0..2**32-1).
MAX_STUDY_NAME = 200
MAX_PROFILE_NAME = 40
MAX_AXIS_NAME = 200
MAX_LEVEL_NAME = 200
MAX_RUN_NAME = 250
MAX_SEED = 2**32 - 1
#: MLflow's characters for param and tag keys; a study name is also a folder name.
KEY_NAME = re.compile(r"^[\w.\-]+$")
STUDY_NAME = re.compile(r"^[A-Za-z0-9][\w.\- ]*$")


def _check_name(r: _Reader, path: Path_, name: str, what: str, limit: int,
                pattern: re.Pattern[str] | None) -> None:
    if len(name) > limit:
        r.bad(path, f"{what} has {len(name)} characters; at most {limit} (MLflow's limits)")
    elif pattern is not None and not pattern.match(name):
        r.bad(path, f"{what} {name!r} may use letters, digits, '_', '-', '.'"
                    + (" and spaces, starting with a letter or digit" if pattern is STUDY_NAME
                       else "") + " (MLflow keys and folder names)")
    elif ".." in name:
        r.bad(path, f"{what} {name!r} must not contain '..'")


# --------------------------------------------------------------------------- parsing

class _Reader:
    """Collects problems while reading typed fields out of the raw mapping."""

    def __init__(self, file: str, lines: Mapping[Path_, int]) -> None:
        self.file, self.lines = file, lines
        self.sources: dict[Path_, tuple[str, int]] = {}
        self.problems: list[Problem] = []

    def line(self, path: Path_) -> int:
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 0)

    def bad(self, path: Path_, message: str) -> None:
        self.problems.append(Problem(*_where(path, self.file, self.lines, self.sources),
                                     ".".join(map(str, path)), message))

    def mapping(self, value: Any, path: Path_, allowed: frozenset[str] | None = None
                ) -> dict[Any, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.bad(path, f"expected a mapping, got {type(value).__name__}")
            return {}
        if allowed is not None:
            for key in value:
                if key not in allowed:
                    self.bad((*path, key), f"unknown key {key!r}; allowed: "
                                           f"{', '.join(sorted(allowed))}")
        return value

    def choice(self, value: Any, path: Path_, choices: Iterable[str], default: str) -> str:
        choices = tuple(choices)
        if value is None:
            return default
        if value not in choices:
            self.bad(path, f"{value!r} is not one of {', '.join(choices)}")
            return default
        return str(value)

    def seeds(self, value: Any, path: Path_) -> tuple[int, ...]:
        if value is None:
            return (0,)
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list) or not value or not all(
                isinstance(s, int) and not isinstance(s, bool) for s in value):
            self.bad(path, "seeds must be a non-empty list of integers")
            return (0,)
        if len(set(value)) != len(value):
            self.bad(path, f"duplicate seeds in {value}")
        for i, s in enumerate(value):
            if not 0 <= s <= MAX_SEED:  # numpy's and so mmengine's set_random_seed range
                self.bad((*path, i), f"seed {s} is outside 0..{MAX_SEED} (2**32 - 1)")
        return tuple(value)

    def resources(self, value: Any, path: Path_, default: Resources) -> Resources:
        raw = self.mapping(value, path, RESOURCE_KEYS)
        gpus, cpus = raw.get("gpus_per_job", default.gpus_per_job), raw.get(
            "cpus_per_job", default.cpus_per_job)
        if isinstance(gpus, bool) or not isinstance(gpus, int | float) or gpus < 0 or (
                gpus > 1 and gpus != int(gpus)):
            self.bad((*path, "gpus_per_job"), f"gpus_per_job must be 0, a fraction in (0, 1] "
                                               f"or a whole number, got {gpus!r}")
            gpus = default.gpus_per_job
        if isinstance(cpus, bool) or not isinstance(cpus, int) or cpus < 1:
            self.bad((*path, "cpus_per_job"), f"cpus_per_job must be an integer >= 1, "
                                               f"got {cpus!r}")
            cpus = default.cpus_per_job
        counts = {}
        for key in ("procs_per_job", "nodes_per_job"):
            v = raw.get(key, getattr(default, key))
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                self.bad((*path, key), f"{key} must be an integer >= 1, got {v!r}")
                v = getattr(default, key)
            counts[key] = v
        if counts["procs_per_job"] > 1 and gpus > 1:
            self.bad((*path, "procs_per_job"), "give gpus_per_job (one process per GPU) or "
                                                "procs_per_job (CPU processes), not both")
        return Resources(float(gpus), int(cpus), **counts)

    def patch(self, value: Any, path: Path_) -> dict[str, Any]:
        if value is None:
            self.bad(path, "empty patch; write {} for the unchanged base (the baseline level)")
            return {}
        raw = self.mapping(value, path)
        for key in raw:
            if not isinstance(key, str) or not patch_key_path(key) or any(
                    not part for part in patch_key_path(key).split(".")):
                self.bad((*path, key), f"patch keys are dotted config keys like "
                                       f"'model.backbone.depth', got {key!r}")
        return {str(k): v for k, v in raw.items()}


def _level_name(r: _Reader, name: Any, path: Path_) -> str:
    if isinstance(name, bool) or name is None:
        r.bad(path, f"level name {name!r} was read by YAML as a {type(name).__name__}; "
                    "quote it (e.g. 'on', 'off', 'yes', 'no', 'null' need quotes)")
    return str(name)


#: The key of a level naming the config its combinations start from (mmengine's word for a
#: config's parent).
LEVEL_BASE_KEY = "_base_"


def _level(r: _Reader, axis: str, name: Any, raw: Any, path: Path_) -> Level:
    patch = r.patch(raw, path)
    base = patch.pop(LEVEL_BASE_KEY, None)
    if isinstance(raw, dict) and LEVEL_BASE_KEY in raw and (not isinstance(base, str) or not base):
        r.bad((*path, LEVEL_BASE_KEY), f"{LEVEL_BASE_KEY} must be a config path (as a study's "
                                       f"base), got {base!r}")
        base = None
    return Level(axis, _level_name(r, name, path), patch, r.line(path), base)


def _selection(r: _Reader, value: Any, path: Path_, axes: Mapping[str, Axis], *,
               complete: bool) -> dict[str, str]:
    """An axis -> level mapping (a row, an exclusion, a table row's ``levels``)."""
    raw = r.mapping(value, path)
    out: dict[str, str] = {}
    for axis_name, level_name in raw.items():
        axis = axes.get(str(axis_name))
        if axis is None:
            r.bad((*path, axis_name), f"no axis {axis_name!r}; axes are {sorted(axes)}")
            continue
        if axis.level(str(level_name)) is None:
            r.bad((*path, axis_name), f"axis {axis_name!r} has no level {level_name!r}; "
                                      f"levels are {[lv.name for lv in axis.levels]}")
            continue
        out[str(axis_name)] = str(level_name)
    if complete and raw and len(out) == len(raw):
        missing = [a for a in axes if a not in out]
        if missing:
            r.bad(path, f"a row must name a level for every axis; missing {missing}")
    return out


def _evaluate(r: _Reader, value: Any, path: Path_, axes: Mapping[str, Axis]) -> Evaluate:
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
        levels = _selection(r, m.get("levels"), (*mpath, "levels"), axes, complete=False)
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


def parse_study(text: str, path: str | Path) -> Study:
    """Validate the study text (``path`` is used in messages and to resolve nothing else).

    Raises:
        StudyError: Listing every problem found, each with file, line and key.
    """
    file = str(path)
    raw, lines, problems = load_yaml(text, file)
    r = _Reader(file, lines)
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
    data = r.choice(raw.get("data"), ("data",), DATA_CHOICES, "auto")
    expand = r.choice(raw.get("expand"), ("expand",), EXPAND_CHOICES, "product")
    seeds = r.seeds(raw.get("seeds"), ("seeds",))
    resources = r.resources(raw.get("resources"), ("resources",), Resources())
    retries = raw.get("retries", 2)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 100:
        r.bad(("retries",), f"retries must be an integer in 0..100, got {retries!r}")
        retries = 2
    _check_name(r, ("name",), name, "study name", MAX_STUDY_NAME, STUDY_NAME)

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
        _check_name(r, apath, str(axis_name), "axis name", MAX_AXIS_NAME, KEY_NAME)
        for lv in levels:
            _check_name(r, (*apath, lv.name), lv.name, "level name", MAX_LEVEL_NAME, None)
        axes[str(axis_name)] = Axis(str(axis_name), levels, r.line(apath))
    longest = sum(max(len(a.name) + len(lv.name) + 2 for lv in a.levels)
                  for a in axes.values()) + len(" seed=4294967295")
    if axes and longest > MAX_RUN_NAME:
        r.bad(("axes",), f"the longest job name (its MLflow run name: axis=level,... seed=N) "
                         f"has {longest} characters; MLflow keeps {MAX_RUN_NAME}: shorten axis "
                         "or level names")

    rows = tuple(_selection(r, row, ("rows", i), axes, complete=True)
                 for i, row in enumerate(raw.get("rows") or []))
    if expand == "rows" and not rows:
        r.bad(("rows",), "expand: rows needs a non-empty 'rows' list")
    if expand != "rows" and raw.get("rows"):
        r.bad(("rows",), f"'rows' is only used with expand: rows (expand is {expand!r})")
    if expand == "zip" and len({len(a.levels) for a in axes.values()}) > 1:
        r.bad(("expand",), "expand: zip needs the same number of levels on every axis; got "
                           + ", ".join(f"{a.name}={len(a.levels)}" for a in axes.values()))
    exclude = tuple(_selection(r, ex, ("exclude", i), axes, complete=False)
                    for i, ex in enumerate(raw.get("exclude") or []))

    # Profiles.
    profiles: dict[str, Profile] = {}
    merged_profiles: dict[Any, Any] = {}
    for p_name, p_raw in r.mapping(raw.get("profiles"), ("profiles",)).items():
        ppath = ("profiles", p_name)
        p = r.mapping(p_raw, ppath, PROFILE_KEYS | KINDS[kind].extra_keys)
        if "include" in p:
            p = _include(r, p, ppath, PROFILE_KEYS - {"include"} | KINDS[kind].extra_keys)
        merged_profiles[p_name] = p
        _check_name(r, ppath, str(p_name), "profile name", MAX_PROFILE_NAME, KEY_NAME)
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
                _selection(r, row.get("levels"), ("table", "rows", i, "levels"), axes,
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


def _include(r: _Reader, p: Mapping[Any, Any], ppath: Path_, allowed: frozenset[str]
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


def _batch(r: Any, value: Any, path: Path_) -> BatchSpec | None:
    """A profile's ``batch:`` section (see :mod:`orchestrator.study.batch`)."""
    spec, problems = parse_batch(value)
    for sub, message in problems:
        r.bad((*path, *sub), message)
    return spec


def _executor_section(r: Any, value: Any) -> dict[str, dict[str, Any]]:
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


def load_study(path: str | Path) -> Study:
    """Read and validate a study file (see :func:`read_study_text` for what is refused)."""
    path = Path(path)
    return parse_study(read_study_text(path), path)


@dataclass(frozen=True)
class StudyHeader:
    """What a command needs before it validates a study: its ``name`` (``None`` when the
    file has none) and ``kind`` (``ablation`` when unset)."""

    name: str | None
    kind: str


def study_header(path: str | Path) -> StudyHeader | None:
    """The name and kind of a study file, read with the study reader's YAML loader but not
    validated (cheap; a broken study still has a name to cancel by). ``None``: unreadable.
    """
    try:
        data, _, problems = load_yaml(read_study_text(Path(path)), str(path))
    except StudyError:  # unreadable, too large or not UTF-8: the full read says which
        return None
    if problems or not isinstance(data, Mapping):
        return None
    name, kind = data.get("name"), data.get("kind", "ablation")
    return StudyHeader(name if isinstance(name, str) else None,
                       kind if isinstance(kind, str) else "ablation")


# --------------------------------------------------------------------------- expansion

Combination = tuple[Level, ...]  # one level per axis, in axis order

#: expand mode -> function giving the combinations of a study.
EXPANDERS: dict[str, Callable[[Study], list[Combination]]] = {}


def _expander(name: str) -> Callable[[Callable[[Study], list[Combination]]],
                                     Callable[[Study], list[Combination]]]:
    def deco(fn: Callable[[Study], list[Combination]]) -> Callable[[Study], list[Combination]]:
        EXPANDERS[name] = fn
        return fn
    return deco


@_expander("product")
def _product(study: Study) -> list[Combination]:
    return [tuple(c) for c in itertools.product(*(a.levels for a in study.axes))]


@_expander("zip")
def _zip(study: Study) -> list[Combination]:
    return [tuple(c) for c in zip(*(a.levels for a in study.axes), strict=True)]


@_expander("rows")
def _rows(study: Study) -> list[Combination]:
    return [tuple(a.level(row[a.name]) for a in study.axes)  # type: ignore[misc]
            for row in study.rows]


def combinations(study: Study) -> list[Combination]:
    """Expand the axes (product | zip | rows), then drop excluded combinations.

    An exclusion is a partial selection: a combination is dropped when it matches every
    axis the exclusion names. Duplicates (the same row twice) are dropped too.
    """
    if not KINDS[study.kind].fixed_jobs:
        raise StudyError([study.problem(["kind"], f"kind {study.kind!r} studies have no fixed "
                                                  "job list; run them with their own command")])
    if not study.axes:
        return [()]
    out: list[Combination] = []
    seen: set[tuple[str, ...]] = set()
    for combo in EXPANDERS[study.expand](study):
        names = tuple(lv.name for lv in combo)
        if names in seen or any(all(dict(zip((a.name for a in study.axes), names,
                                             strict=True))[a] == lv for a, lv in ex.items())
                                for ex in study.exclude):
            continue
        seen.add(names)
        out.append(combo)
    if not out:
        raise StudyError([study.problem(["exclude"], "every combination is excluded")])
    return out
