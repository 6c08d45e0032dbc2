"""Values a study may give, checked before anything is queued.

:func:`patch_value_issues` catches what the type check of :func:`~.configs.apply_patch`
lets through: a non-integral number where the config has an integer (``max_epochs: 2.5``,
``.inf``), and non-finite floats (``.inf``, ``.nan``) anywhere. :func:`config_value_issues`
checks the ranges mmengine and numpy accept for the keys every job has (epochs, batch
sizes, seeds, learning rate), on each resolved configuration.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from .configs import PatchIssue, Tree, get_path, leaf_keys

MAX_SEED = 2**32 - 1


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _floats(value: Any) -> list[float]:
    if isinstance(value, float):
        return [value]
    if isinstance(value, Mapping):
        return [f for v in value.values() for f in _floats(v)]
    if isinstance(value, list | tuple):
        return [f for v in value for f in _floats(v)]
    return []


def patch_value_issues(before: Tree, patch: Mapping[str, Any], after: Tree
                       ) -> list[PatchIssue]:
    """Issues of ``patch``'s values, given the tree it was applied to and the result."""
    issues = []
    for raw_key in patch:
        for key in leaf_keys({raw_key: patch[raw_key]}):
            found, new = get_path(after, key)
            if not found:
                continue
            old = get_path(before, key)[1]
            bad = [f for f in _floats(new) if not math.isfinite(f)]
            if bad and not any(not math.isfinite(f) for f in _floats(old)):
                issues.append(PatchIssue(raw_key, f"{key}: {bad[0]} is not a finite number"))
            elif _is_int(old) and isinstance(new, float):
                issues.append(PatchIssue(raw_key, (
                    f"{key}: the config has an integer ({old!r}); {new!r} is not one"
                    + (f" (write {int(new)})" if new.is_integer() else ""))))
    return issues


def _positive_int(v: Any) -> str | None:
    return None if _is_int(v) and v >= 1 else "must be an integer >= 1"


def _count(v: Any) -> str | None:
    return None if _is_int(v) and v >= 0 else "must be an integer >= 0"


def _seed(v: Any) -> str | None:
    return None if v is None or (_is_int(v) and 0 <= v <= MAX_SEED) else \
        f"must be an integer in 0..{MAX_SEED} (numpy's seed range)"


def _lr(v: Any) -> str | None:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
    return None if ok else "must be a finite number >= 0"


#: Dotted key -> check (``None`` when fine, else what is wrong). Absent keys are skipped.
RULES: dict[str, Callable[[Any], str | None]] = {
    "train_cfg.max_epochs": _positive_int,
    "train_cfg.max_iters": _positive_int,
    "train_cfg.val_interval": _positive_int,
    "train_dataloader.batch_size": _positive_int,
    "val_dataloader.batch_size": _positive_int,
    "test_dataloader.batch_size": _positive_int,
    "train_dataloader.num_workers": _count,
    "val_dataloader.num_workers": _count,
    "test_dataloader.num_workers": _count,
    "randomness.seed": _seed,
    "optim_wrapper.optimizer.lr": _lr,
}


def config_value_issues(tree: Tree) -> list[tuple[str, str]]:
    """``(key, message)`` for every :data:`RULES` key of ``tree`` out of its range."""
    out = []
    for key, check in RULES.items():
        found, value = get_path(tree, key)
        if found and (why := check(value)) is not None:
            out.append((key, f"{key} = {value!r} {why}"))
    return out


def culprit(key: str, patches: list[tuple[tuple[Any, ...], Mapping[str, Any]]]
            ) -> tuple[Any, ...] | None:
    """The study path of the last patch (in application order) that sets ``key``."""
    for path, patch in reversed(patches):
        for raw in patch:
            if any(k == key or key.startswith(k + ".") for k in leaf_keys({raw: patch[raw]})):
                return (*path, raw)
    return None
