"""Command-line overrides: ``--set key=value`` and ``--sweep key=v1,v2`` on a study.

Both turn the study into an *ad-hoc study* that the planner validates and runs like any
other (same queue, same MLflow layout):

* ``--set KEY=VALUE`` joins the profile's ``override`` (applied after the levels, so it
  wins over them), with the patch syntax and checks of a study file: a dotted config key,
  ``+key`` to add one, ``?key`` where present; the value is YAML (``1e-4``, ``[1, 2]``,
  ``true``) and must keep the config's type. It changes the resolved config, so it changes
  the job ids.
* ``--sweep KEY=V1,V2,...`` adds an axis named ``KEY`` whose levels set it to each value
  (level names ``<last key part>=<value>``, e.g. ``lr=0.01``); several sweeps and the
  study's own combinations multiply.

The ad-hoc study is named ``<study>+<6 hex digits>``, a digest of the overrides, so the same
command line always lands in the same queue entries and MLflow experiment, and the study's
own experiment is left as it is. Problems in an override are reported like those of a
study file, with ``command line`` as the file and the option as the key.
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import yaml

from .configs import patch_key_path
from .errors import Problem, StudyError
from .loading import StudyLoader
from .reader import KINDS, Axis, Level, Study, combinations

#: The ``file`` of problems found in command-line overrides (as :meth:`Study.problem`).
COMMAND_LINE = "command line"


def _problem(option: str, message: str) -> Problem:
    return Problem(COMMAND_LINE, 0, option, message)


def _split_values(text: str) -> list[str]:
    """``a,b,[1, 2]`` -> ``['a', 'b', '[1, 2]']``: commas inside brackets or quotes stay."""
    out, depth, quote, cur = [], 0, "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        cur += ch
    out.append(cur.strip())
    return out


def _value(text: str, option: str, problems: list[Problem]) -> Any:
    try:
        return yaml.load(text, Loader=StudyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        problems.append(_problem(option, f"value {text!r} is not valid YAML: "
                                         f"{str(exc).splitlines()[0]}"))
        return None


def _assignments(texts: Sequence[str], flag: str, problems: list[Problem]
                 ) -> Iterator[tuple[str, str, str]]:
    """``(key, value text, option)`` of each well-formed ``KEY=VALUE`` of ``flag``; a
    malformed one is added to ``problems`` and skipped."""
    for text in texts:
        option = f"{flag} {text}"
        key, eq, value = text.partition("=")
        key = key.strip()
        if not eq or not key:
            problems.append(_problem(option, f"expected KEY=VALUE{',...' * (flag == '--sweep')}"
                                             " (e.g. optim_wrapper.optimizer.lr=0.01)"))
        elif not patch_key_path(key) or any(not p for p in patch_key_path(key).split(".")):
            problems.append(_problem(option, f"patch keys are dotted config keys like "
                                             f"'model.backbone.depth', got {key!r}"))
        else:
            yield key, value.strip(), option


@dataclasses.dataclass(frozen=True)
class Overrides:
    """Parsed ``--set`` and ``--sweep`` options.

    Attributes:
        sets: key -> (value, option text as given).
        sweeps: key -> ((level name, value), ...) and the option text.
    """

    sets: Mapping[str, tuple[Any, str]]
    sweeps: Mapping[str, tuple[tuple[tuple[str, Any], ...], str]]

    def __bool__(self) -> bool:
        return bool(self.sets or self.sweeps)

    def digest(self) -> str:
        """6 hex digits naming this set of overrides (order of options does not matter)."""
        from .configs import canonical

        body = canonical({"set": {k: v for k, (v, _) in self.sets.items()},
                          "sweep": {k: [v for _, v in lv] for k, (lv, _) in
                                    self.sweeps.items()}})
        return hashlib.sha256(body.encode()).hexdigest()[:6]

    def describe(self) -> str:
        return " ".join([o for _, o in self.sets.values()] + [o for _, o in
                                                               self.sweeps.values()])


def parse_overrides(sets: Sequence[str] = (), sweeps: Sequence[str] = ()) -> Overrides:
    """Parse the options (values as YAML).

    Raises:
        StudyError: Malformed options, a key given twice, a sweep with fewer than two values.
    """
    problems: list[Problem] = []
    parsed_sets: dict[str, tuple[Any, str]] = {}
    for key, raw, option in _assignments(sets, "--set", problems):
        if key in parsed_sets:
            problems.append(_problem(option, f"{key} is already set by "
                                             f"{parsed_sets[key][1]!r}"))
            continue
        parsed_sets[key] = (_value(raw, option, problems), option)
    parsed_sweeps: dict[str, tuple[tuple[tuple[str, Any], ...], str]] = {}
    for key, raw, option in _assignments(sweeps, "--sweep", problems):
        if key in parsed_sets or key in parsed_sweeps:
            problems.append(_problem(option, f"{key} is also given by another --set or "
                                             "--sweep"))
            continue
        texts = _split_values(raw)
        if len(texts) < 2 or any(not t for t in texts):
            problems.append(_problem(option, "a sweep needs two or more comma-separated "
                                             "values (use --set for one)"))
            continue
        if len(set(texts)) != len(texts):
            problems.append(_problem(option, f"duplicate values in {raw!r}"))
            continue
        short = patch_key_path(key).split(".")[-1]
        parsed_sweeps[key] = (tuple((f"{short}={t}", _value(t, option, problems))
                                    for t in texts), option)
    if problems:
        raise StudyError(problems)
    return Overrides(parsed_sets, parsed_sweeps)


def apply_overrides(study: Study, profile_name: str | None, overrides: Overrides) -> Study:
    """The ad-hoc study: ``study`` with the overrides, renamed ``<name>+<digest>``.

    The ``--set`` keys join the override of the profile that will run; each ``--sweep``
    becomes an axis, and the study's combinations (after its ``expand`` and ``exclude``)
    are crossed with the sweep levels as explicit rows.

    Raises:
        StudyError: A sweep on a study kind without fixed jobs (a search), or a sweep key
            that is already an axis name.
    """
    if not overrides:
        return study
    profile = study.profile(profile_name)
    origins: dict[tuple[Any, ...], str] = dict(study.origins)
    profiles = dict(study.profiles)
    if overrides.sets:
        override = {**profile.override, **{k: v for k, (v, _) in overrides.sets.items()}}
        profiles[profile.name] = dataclasses.replace(profile, override=override)
        for key, (_, option) in overrides.sets.items():
            origins[("profiles", profile.name, "override", key)] = option
        if not profile.override:  # problems about the override as a whole are the --set's
            origins[("profiles", profile.name, "override")] = " ".join(
                o for _, o in overrides.sets.values())
    axes, rows, exclude, expand = study.axes, study.rows, study.exclude, study.expand
    if overrides.sweeps:
        problems = []
        for key, (_, option) in overrides.sweeps.items():
            if not KINDS[study.kind].fixed_jobs:
                problems.append(_problem(option, f"a {study.kind} study has no fixed jobs to "
                                                 "sweep over (--set applies to it)"))
            elif study.axis(key) is not None:
                problems.append(_problem(option, f"the study already has an axis {key!r}"))
        if problems:
            raise StudyError(problems)
        combos = combinations(study)  # refuses a search study, with the study's own message
        new_axes = tuple(
            Axis(key, tuple(Level(key, name, {key: value}, 0) for name, value in levels), 0)
            for key, (levels, _) in overrides.sweeps.items())
        for axis in new_axes:
            origins[("axes", axis.name)] = overrides.sweeps[axis.name][1]
        axes = study.axes + new_axes
        rows = tuple(
            {**{lv.axis: lv.name for lv in combo}, **{lv.axis: lv.name for lv in extra}}
            for combo in combos for extra in itertools.product(*(a.levels for a in new_axes)))
        exclude, expand = (), "rows"
    name = f"{study.name}+{overrides.digest()}"
    description = (f"{study.description} " if study.description else "") + \
        f"[ad-hoc: {overrides.describe()}]"
    return dataclasses.replace(study, name=name, description=description, axes=axes,
                               rows=rows, exclude=exclude, expand=expand, profiles=profiles,
                               origins=origins)
