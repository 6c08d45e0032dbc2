"""A study's combinations: one level per axis, by ``expand`` (product | zip | rows), minus
its ``exclude`` selections (:func:`combinations`)."""
from __future__ import annotations

import itertools
from collections.abc import Callable

from .errors import StudyError
from .model import KINDS, Level, Study

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
