"""The ``search:`` section of a ``kind: search`` study: parsing, validation, Optuna objects.

Everything that can be checked from the study file alone is checked here, before any
trial starts (empty ranges, ``low > high``, log scale with a non-positive bound, unknown
sampler or pruner arguments, ...); every error names the file, line and key. Checks that
need the resolved config (the mapped config keys exist and take the parameter's type) are
in :mod:`orchestrator.search.planner`.

Schema (``docs/search.md``)::

    search:
      metric: coco/segm_mAP          # per-epoch validation metric; objective = test/<metric>
      direction: maximize            # or minimize
      n_trials: 20                   # budget: trials (all machines together) ...
      timeout: 2h                    # ... and/or wall time of one `run` (s, m, h suffixes)
      sampler: tpe                   # tpe | random | grid | brute-force, or {type: tpe, seed: 0}
      pruner: {type: median, n_startup_trials: 5}   # median | percentile | hyperband |
                                     # successive-halving | threshold | none (kwargs of
                                     # Optuna's class)
      storage: null                  # SQLAlchemy URL; default sqlite:///<workspace>/optuna.db
      space:
        lr: {type: float, low: 1e-4, high: 1e-2, log: true, key: optim_wrapper.optimizer.lr}
        rois: {type: int, low: 16, high: 128, step: 16, key: model.train_cfg.mask.sampler.num}
        thr: {type: categorical, choices: [0.03, 0.05], keys: [a.b, c.d]}

A profile may carry a ``search:`` mapping too; its keys replace the study's (e.g. a smaller
``n_trials`` for a quick profile).

Optuna is imported only by the ``make_*`` functions, so parsing stays cheap.
"""
from __future__ import annotations

import inspect
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from ..study.configs import patch_key_path
from ..study.errors import Problem, StudyError
from ..study.reader import Profile, Study

Path_ = tuple[Any, ...]

SEARCH_KEYS: frozenset[str] = frozenset({
    "metric", "direction", "n_trials", "timeout", "sampler", "pruner", "storage", "space"})
PARAM_KEYS: frozenset[str] = frozenset({
    "type", "key", "keys", "low", "high", "log", "step", "choices"})
PARAM_TYPES: tuple[str, ...] = ("float", "int", "categorical")
Direction = Literal["maximize", "minimize"]
DIRECTIONS: tuple[Direction, ...] = ("maximize", "minimize")

#: sampler name -> class in ``optuna.samplers``.
SAMPLERS: dict[str, str] = {
    "tpe": "TPESampler", "random": "RandomSampler", "grid": "GridSampler",
    "brute-force": "BruteForceSampler"}
#: pruner name -> class in ``optuna.pruners``.
PRUNERS: dict[str, str] = {
    "median": "MedianPruner", "percentile": "PercentilePruner", "hyperband": "HyperbandPruner",
    "successive-halving": "SuccessiveHalvingPruner", "threshold": "ThresholdPruner",
    "none": "NopPruner"}
#: Samplers that enumerate a discrete space: every parameter needs a finite set of values.
EXHAUSTIVE: frozenset[str] = frozenset({"grid", "brute-force"})
#: Constructor arguments the search sets itself (not from the study file).
_RESERVED_ARGS: frozenset[str] = frozenset({"search_space", "constraints_func", "gamma",
                                            "weights"})
_SCALARS = (type(None), bool, int, float, str)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*([smh]?)\s*$")


@dataclass(frozen=True)
class SearchParam:
    """One searched hyper-parameter, mapped onto one or more config keys.

    Attributes:
        name: Optuna parameter name (the key under ``search.space``).
        type: ``float`` | ``int`` | ``categorical``.
        keys: Dotted config keys that all receive the sampled value (``+`` adds a key).
        low, high: Inclusive bounds (numbers).
        log: Sample on a log scale.
        step: Discretisation step, or ``None``.
        choices: Categorical values (scalars).
        path: Where the parameter is in the study file (for messages).
    """

    name: str
    type: str
    keys: tuple[str, ...]
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] = ()
    path: Path_ = ()

    def distribution(self) -> Any:
        """The ``optuna.distributions`` object of the parameter."""
        from optuna import distributions as d

        if self.type == "categorical":
            return d.CategoricalDistribution(list(self.choices))
        if self.type == "int":
            return d.IntDistribution(int(self.low), int(self.high), log=self.log,  # type: ignore[arg-type]
                                     step=int(self.step or 1))
        return d.FloatDistribution(float(self.low), float(self.high), log=self.log,  # type: ignore[arg-type]
                                   step=None if self.step is None else float(self.step))

    def values(self) -> list[Any] | None:
        """Every value of a discrete parameter, or ``None`` for a continuous one."""
        if self.type == "categorical":
            return list(self.choices)
        if self.type == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))  # type: ignore[arg-type]
        if self.step is None:
            return None
        n = int(math.floor((float(self.high) - float(self.low)) / float(self.step) + 1e-9))  # type: ignore[arg-type]
        return [round(float(self.low) + i * float(self.step), 12) for i in range(n + 1)]  # type: ignore[arg-type]

    def samples(self) -> list[Any]:
        """Values that exercise the config keys' types (the bounds, or every choice)."""
        return list(self.choices) if self.type == "categorical" else [self.low, self.high]

    def patch(self, value: Any) -> dict[str, Any]:
        """The config patch that sets ``value`` on every mapped key."""
        return dict.fromkeys(self.keys, value)


@dataclass(frozen=True)
class SearchSpec:
    """A validated ``search:`` section (study merged with the profile's).

    Attributes:
        metric: Validation metric reported each epoch (``coco/segm_mAP``); the objective
            is the job's final ``test/<metric>``.
        direction: ``maximize`` | ``minimize``.
        n_trials: Trials of the whole study (all machines), or ``None`` (no limit).
        timeout_s: Seconds after which one ``run`` asks for no new trial, or ``None``.
        sampler: ``{"type": name, **kwargs}``.
        pruner: ``{"type": name, **kwargs}``.
        storage: SQLAlchemy URL, or ``None`` for the workspace's SQLite file.
        params: The search space, in file order.
        paths: Top-level search key -> where it was written (for messages).
    """

    metric: str
    direction: Direction
    n_trials: int | None
    timeout_s: float | None
    sampler: Mapping[str, Any]
    pruner: Mapping[str, Any]
    storage: str | None
    params: tuple[SearchParam, ...]
    paths: Mapping[str, Path_] = field(default_factory=dict)

    def path(self, key: str, *rest: Any) -> Path_:
        return (*self.paths.get(key, ("search", key)), *rest)

    def param(self, name: str) -> SearchParam | None:
        return next((p for p in self.params if p.name == name), None)

    def space_size(self) -> int | None:
        """Number of distinct points of a fully discrete space, else ``None``."""
        n = 1
        for p in self.params:
            values = p.values()
            if values is None:
                return None
            n *= len(values)
        return n

    def budget(self) -> int | None:
        """Trials to run: ``n_trials``, capped by the grid size for exhaustive samplers."""
        size = self.space_size() if self.sampler["type"] in EXHAUSTIVE else None
        if size is None:
            return self.n_trials
        return size if self.n_trials is None else min(size, self.n_trials)

    def describe(self) -> list[str]:
        """Human-readable lines (``orchestrator plan``)."""
        def kw(spec: Mapping[str, Any]) -> str:
            args = ", ".join(f"{k}={v!r}" for k, v in spec.items() if k != "type")
            return f"{spec['type']}" + (f" ({args})" if args else "")

        budget = [f"{self.n_trials} trials" if self.n_trials else "no trial limit",
                  f"timeout {self.timeout_s:.0f} s per run" if self.timeout_s else "no timeout"]
        size = self.space_size()
        lines = [f"objective: {self.direction} test/{self.metric} (pruning on the per-epoch "
                 f"{self.metric})",
                 f"budget: {', '.join(budget)}" + (f"; the space has {size} points"
                                                   if size is not None else ""),
                 f"sampler: {kw(self.sampler)}; pruner: {kw(self.pruner)}"]
        for p in self.params:
            if p.type == "categorical":
                what = f"one of {list(p.choices)}"
            else:
                what = (f"{p.type} in [{p.low}, {p.high}]" + (" log" if p.log else "")
                        + (f" step {p.step}" if p.step is not None else ""))
            lines.append(f"  {p.name:16} {what:44} -> {', '.join(p.keys)}")
        return lines


# --------------------------------------------------------------------------- parsing

def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def parse_duration(value: Any) -> float | None:
    """Seconds from ``90``, ``90s``, ``15m`` or ``2h``; ``None`` when malformed."""
    if _number(value):
        return float(value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]
    return None


class _Checker:
    def __init__(self, study: Study) -> None:
        self.study = study
        self.problems: list[Problem] = []

    def bad(self, path: Path_, message: str) -> None:
        self.problems.append(self.study.problem(path, message))


def _component(c: _Checker, value: Any, path: Path_, table: Mapping[str, str], module: str,
               what: str, default: str) -> dict[str, Any]:
    """A sampler/pruner spec: a name, or ``{type: name, **kwargs}`` with known kwargs."""
    if value is None:
        value = default
    spec = {"type": value} if isinstance(value, str) else dict(value) if isinstance(
        value, Mapping) else None
    if spec is None or not isinstance(spec.get("type"), str):
        c.bad(path, f"a {what} is a name ({', '.join(table)}) or a mapping with 'type'")
        return {"type": default}
    if spec["type"] not in table:
        c.bad((*path, "type") if isinstance(value, Mapping) else path,
              f"unknown {what} {spec['type']!r}; known: {', '.join(table)}")
        return {"type": default}
    import importlib

    cls = getattr(importlib.import_module(module), table[spec["type"]])
    params = inspect.signature(cls.__init__).parameters
    allowed = sorted(n for n, p in params.items() if n != "self" and n not in _RESERVED_ARGS
                     and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
    required = [n for n, p in params.items() if n in allowed and p.default is p.empty]
    for key, arg in spec.items():
        if key == "type":
            continue
        if key not in allowed:
            c.bad((*path, key), f"{spec['type']} {what} has no argument {key!r}; its "
                                f"arguments: {', '.join(allowed) or 'none'}")
        elif not isinstance(arg, _SCALARS):
            c.bad((*path, key), f"{what} arguments are scalars, got {type(arg).__name__}")
    for key in required:
        if key not in spec:
            c.bad(path, f"{spec['type']} {what} needs {key!r}")
    return spec


def _param(c: _Checker, name: Any, raw: Any, path: Path_) -> SearchParam | None:
    if not isinstance(raw, Mapping):
        c.bad(path, "a search parameter is a mapping with 'type', 'key' and its range")
        return None
    n_before = len(c.problems)
    for key in raw:
        if key not in PARAM_KEYS:
            c.bad((*path, key), f"unknown key {key!r}; allowed: {', '.join(sorted(PARAM_KEYS))}")
    ptype = raw.get("type")
    if ptype not in PARAM_TYPES:
        c.bad((*path, "type"), f"type must be one of {', '.join(PARAM_TYPES)}, got {ptype!r}")
        return None
    keys_raw: Any = raw.get("keys", raw.get("key"))
    if "key" in raw and "keys" in raw:
        c.bad(path, "give either 'key' or 'keys', not both")
    if isinstance(keys_raw, str):
        keys_raw = [keys_raw]
    if not isinstance(keys_raw, list) or not keys_raw:
        c.bad(path, "every search parameter needs 'key' (a dotted config key) or 'keys'")
        keys_raw = []
    for i, key in enumerate(keys_raw):
        if not isinstance(key, str) or not patch_key_path(key) or any(
                not part for part in patch_key_path(key).split(".")):
            c.bad((*path, "keys" if "keys" in raw else "key", *(
                (i,) if "keys" in raw else ())), f"config keys are dotted like "
                f"'optim_wrapper.optimizer.lr', got {key!r}")
    keys = tuple(str(k) for k in keys_raw)
    if len(set(keys)) != len(keys):
        c.bad((*path, "keys"), f"duplicate config keys in {list(keys)}")

    if ptype == "categorical":
        for key in ("low", "high", "log", "step"):
            if key in raw:
                c.bad((*path, key), f"{key!r} is for float and int parameters; a categorical "
                                    "parameter has 'choices'")
        choices = raw.get("choices")
        if not isinstance(choices, list) or not choices:
            c.bad((*path, "choices"), "a categorical parameter needs a non-empty list "
                                      "'choices' (empty range)")
            return None
        for i, v in enumerate(choices):
            if not isinstance(v, _SCALARS):
                c.bad((*path, "choices", i), f"choices are scalars (null, bool, number, "
                                             f"string), got {type(v).__name__}")
        if len(choices) == 1:
            c.bad((*path, "choices"), f"only one choice {choices[0]!r}: nothing to search "
                                      "(empty range; set the value in a profile patch)")
        elif len({repr(v) for v in choices}) != len(choices):
            c.bad((*path, "choices"), f"duplicate choices in {choices}")
        if len(c.problems) > n_before:
            return None
        return SearchParam(str(name), ptype, keys, choices=tuple(choices), path=path)

    if "choices" in raw:
        c.bad((*path, "choices"), f"'choices' is for categorical parameters; a {ptype} "
                                  "parameter has 'low' and 'high'")
    low, high, step, log = raw.get("low"), raw.get("high"), raw.get("step"), raw.get(
        "log", False)
    integer = ptype == "int"
    for key, v in (("low", low), ("high", high)):
        if v is None:
            c.bad((*path, key) if key in raw else path, f"a {ptype} parameter needs {key!r}")
        elif not _number(v) or (integer and not isinstance(v, int)):
            c.bad((*path, key), f"{key} must be {'an integer' if integer else 'a number'}, "
                                f"got {v!r}")
    if not isinstance(log, bool):
        c.bad((*path, "log"), f"log must be true or false, got {log!r}")
        log = False
    if step is not None and (not _number(step) or step <= 0 or (integer and not isinstance(
            step, int))):
        c.bad((*path, "step"), f"step must be a positive {'integer' if integer else 'number'}"
                               f", got {step!r}")
        step = None
    if len(c.problems) > n_before:
        return None
    assert low is not None and high is not None
    if low > high:
        c.bad((*path, "low"), f"low > high ({low} > {high})")
    elif low == high:
        c.bad((*path, "high"), f"empty range: low == high == {low} (set a fixed value in a "
                               "profile patch instead)")
    elif step is not None and high - low < step:
        c.bad((*path, "step"), f"empty range: step {step} is larger than high - low = "
                               f"{high - low}, so only {low} can be sampled")
    if log:
        if low <= 0 or high <= 0:
            c.bad((*path, "low" if low <= 0 else "high"),
                  f"log scale needs positive bounds, got low={low}, high={high}")
        if step is not None and not (integer and step == 1):
            c.bad((*path, "step"), "log scale and step cannot be combined (Optuna)")
    if len(c.problems) > n_before:
        return None
    return SearchParam(str(name), ptype, keys, low=low, high=high, log=log, step=step,
                       path=path)


def parse_search(study: Study, profile: Profile) -> SearchSpec:
    """The validated ``search:`` section of ``study`` under ``profile``.

    Raises:
        StudyError: Every problem found, each with file, line and key.
    """
    c = _Checker(study)
    paths: dict[str, Path_] = {}
    merged: dict[str, Any] = {}
    top = study.raw.get("search")
    if not isinstance(top, Mapping):
        raise StudyError([study.problem(("search",) if "search" in study.raw else ("kind",),
                                        "a kind: search study needs a 'search:' mapping "
                                        "(metric, space, ...)")])
    sources: list[tuple[Path_, Any]] = [(("search",), top)]
    prof_raw = (study.raw.get("profiles") or {}).get(profile.name) or {}
    if isinstance(prof_raw, Mapping) and "search" in prof_raw:
        sources.append((("profiles", profile.name, "search"), prof_raw["search"]))
    for prefix, section in sources:
        if not isinstance(section, Mapping):
            c.bad(prefix, "expected a mapping")
            continue
        for key, value in section.items():
            if key not in SEARCH_KEYS:
                c.bad((*prefix, key), f"unknown key {key!r}; allowed: "
                                      f"{', '.join(sorted(SEARCH_KEYS))}")
                continue
            merged[key], paths[key] = value, (*prefix, key)

    def at(key: str, *rest: Any) -> Path_:
        return (*paths.get(key, ("search", key)), *rest)

    metric = merged.get("metric")
    if not isinstance(metric, str) or not metric:
        c.bad(at("metric") if "metric" in merged else ("search",),
              "the search needs 'metric': the validation metric to optimise, e.g. "
              "coco/segm_mAP")
        metric = ""
    direction = merged.get("direction", "maximize")
    if direction not in DIRECTIONS:
        c.bad(at("direction"), f"direction must be maximize or minimize, got {direction!r}")
        direction = "maximize"
    n_trials = merged.get("n_trials")
    if n_trials is not None and (isinstance(n_trials, bool) or not isinstance(n_trials, int)
                                 or n_trials < 1):
        c.bad(at("n_trials"), f"n_trials must be an integer >= 1, got {n_trials!r}")
        n_trials = None
    timeout = merged.get("timeout")
    timeout_s = None if timeout is None else parse_duration(timeout)
    if timeout is not None and (timeout_s is None or timeout_s <= 0):
        c.bad(at("timeout"), f"timeout is seconds or a duration like 90s, 15m, 2h; got "
                             f"{timeout!r}")
    storage = merged.get("storage")
    if storage is not None and (not isinstance(storage, str) or "://" not in storage):
        c.bad(at("storage"), f"storage is an SQLAlchemy URL such as sqlite:///path/optuna.db "
                             f"or postgresql://user@host/db, got {storage!r}")
        storage = None

    space = merged.get("space")
    params: list[SearchParam] = []
    if not isinstance(space, Mapping) or not space:
        c.bad(at("space") if "space" in merged else ("search",),
              "the search needs a non-empty 'space': parameter name -> {type, key, range}")
    else:
        for name, raw in space.items():
            p = _param(c, name, raw, at("space", name))
            if p is not None:
                params.append(p)
        owners: dict[str, str] = {}
        for p in params:
            for key in p.keys:
                k = patch_key_path(key)
                if k in owners:
                    c.bad(at("space", p.name, "key"), f"config key {k!r} is already set by "
                                                      f"parameter {owners[k]!r}")
                owners.setdefault(k, p.name)

    sampler = _component(c, merged.get("sampler"), at("sampler"), SAMPLERS, "optuna.samplers",
                         "sampler", "tpe")
    pruner = _component(c, merged.get("pruner"), at("pruner"), PRUNERS, "optuna.pruners",
                        "pruner", "median")
    if sampler["type"] in EXHAUSTIVE:
        for p in params:
            if p.values() is None:
                c.bad(p.path, f"the {sampler['type']} sampler enumerates the space: parameter "
                              f"{p.name!r} is continuous; give it a 'step' or make it "
                              "categorical")
    if n_trials is None and timeout_s is None and sampler["type"] not in EXHAUSTIVE:
        c.bad(("search",), "the search needs a budget: 'n_trials' and/or 'timeout'")
    if c.problems:
        raise StudyError(c.problems)
    return SearchSpec(metric=metric, direction=cast(Direction, direction), n_trials=n_trials,
                      timeout_s=timeout_s, sampler=sampler, pruner=pruner, storage=storage,
                      params=tuple(params), paths=paths)


# --------------------------------------------------------------------------- Optuna objects

def _kwargs(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k != "type"}


def make_sampler(spec: SearchSpec) -> Any:
    """The Optuna sampler of the search (the grid sampler gets the whole discrete grid)."""
    import optuna

    kind = spec.sampler["type"]
    cls = getattr(optuna.samplers, SAMPLERS[kind])
    if kind == "grid":
        grid = {p.name: p.values() for p in spec.params}
        return cls(grid, **_kwargs(spec.sampler))
    return cls(**_kwargs(spec.sampler))


def make_pruner(pruner: Mapping[str, Any]) -> Any:
    """The Optuna pruner of a pruner spec (the same object in the driver and in the jobs)."""
    import optuna

    return getattr(optuna.pruners, PRUNERS[pruner["type"]])(**_kwargs(pruner))


def make_storage(url: str) -> Any:
    """An ``RDBStorage`` at ``url``; SQLite files get a long lock timeout.

    The driver and every running trial's job process write to one study (intermediate
    values, states): SQLite's default 5 s lock wait is too short on a busy machine.
    """
    import optuna

    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        engine_kwargs["connect_args"] = {"timeout": 120}
    return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)


def redact(url: str) -> str:
    """``url`` without its password (for logs and MLflow tags)."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


def check_values(params: Sequence[SearchParam], values: Mapping[str, Any]) -> list[str]:
    """Names of the parameters missing from ``values`` (a trial's params)."""
    return [p.name for p in params if p.name not in values]
