"""Typed fields of a study file read with their problems collected, not raised.

:class:`FieldReader` reads mappings, choices, seeds, resources and patches out of the raw
YAML and records each problem with the file, line and key it is about (a key that came
from an included profile file names that file); :func:`check_name` holds names to what
MLflow and mmengine accept; :func:`selection` reads an axis -> level mapping.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from .configs import patch_key_path
from .errors import Problem
from .model import Axis, Path_, Resources, locate
from .values import MAX_SEED

RESOURCE_KEYS: frozenset[str] = frozenset({"gpus_per_job", "cpus_per_job", "procs_per_job",
                                           "nodes_per_job"})

#: What MLflow (3.17) and mmengine accept, checked before anything is queued. The study name
#: is the experiment's (MLflow: 500; its SQL column: 256) and, with `` [profile]``, the
#: parent run's name (250); an axis name is in the param key ``level.<axis>`` and the tag
#: key ``cm.level.<axis>`` (250); seeds go to numpy's ``seed`` (0..2**32-1).
MAX_STUDY_NAME = 200
MAX_PROFILE_NAME = 40
MAX_AXIS_NAME = 200
MAX_LEVEL_NAME = 200
MAX_RUN_NAME = 250
#: MLflow's characters for param and tag keys; a study name is also a folder name.
KEY_NAME = re.compile(r"^[\w.\-]+$")
STUDY_NAME = re.compile(r"^[A-Za-z0-9][\w.\- ]*$")


def check_name(r: FieldReader, path: Path_, name: str, what: str, limit: int,
               pattern: re.Pattern[str] | None) -> None:
    """Report ``name`` (a ``what``) at ``path`` if it is longer than ``limit`` or, with
    ``pattern``, has characters MLflow keys and folder names do not take."""
    if len(name) > limit:
        r.bad(path, f"{what} has {len(name)} characters; at most {limit} (MLflow's limits)")
    elif pattern is not None and not pattern.match(name):
        r.bad(path, f"{what} {name!r} may use letters, digits, '_', '-', '.'"
                    + (" and spaces, starting with a letter or digit" if pattern is STUDY_NAME
                       else "") + " (MLflow keys and folder names)")
    elif ".." in name:
        r.bad(path, f"{what} {name!r} must not contain '..'")


class FieldReader:
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
        self.problems.append(Problem(*locate(path, self.file, self.lines, self.sources),
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


def selection(r: FieldReader, value: Any, path: Path_, axes: Mapping[str, Axis], *,
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
