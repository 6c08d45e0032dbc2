"""The papers' published numbers (``analysis/paper_numbers.yaml``).

The numbers were transcribed once from ``../shared/papers``; a study's ``table.paper`` either
copies them inline or names a table id here (``paper: centermask-table4``).
"""
from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

PAPER_NUMBERS_FILE = Path(__file__).with_name("paper_numbers.yaml")

PaperValue = float | int | str | bool | None
PaperRows = dict[str, dict[str, PaperValue]]


class PaperNumbersError(ValueError):
    """A paper table id is unknown or the numbers file is malformed."""


@lru_cache(maxsize=1)
def _load() -> dict[str, Any]:
    with PAPER_NUMBERS_FILE.open(encoding="utf-8") as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict):
        raise PaperNumbersError(f"{PAPER_NUMBERS_FILE}: expected a mapping of table ids")
    return data


def paper_table_ids() -> list[str]:
    """All table ids in ``paper_numbers.yaml``, in file order."""
    return list(_load())


def paper_table_info(table_id: str) -> dict[str, Any]:
    """The whole entry of a table (``source``, ``caption``, ``columns``, ``rows``).

    Aliases (``same_as: <id>``) are followed.

    Raises:
        PaperNumbersError: unknown id, alias cycle or an entry without ``rows``.
    """
    data = _load()
    seen: list[str] = []
    current = table_id
    while True:
        if current not in data:
            known = ", ".join(data)
            raise PaperNumbersError(
                f"{PAPER_NUMBERS_FILE}: no paper table {current!r}"
                + (f" (alias chain {' -> '.join(seen)})" if seen else "")
                + f"; known ids: {known}")
        entry = data[current]
        if not isinstance(entry, Mapping):
            raise PaperNumbersError(f"{PAPER_NUMBERS_FILE}: {current}: expected a mapping")
        if "same_as" not in entry:
            break
        seen.append(current)
        current = str(entry["same_as"])
        if current in seen:
            raise PaperNumbersError(f"{PAPER_NUMBERS_FILE}: alias cycle {' -> '.join(seen)}")
    rows = entry.get("rows")
    if not isinstance(rows, Mapping):
        raise PaperNumbersError(f"{PAPER_NUMBERS_FILE}: {current}.rows: expected a mapping")
    return dict(entry)


def paper_numbers(table_id: str) -> PaperRows:
    """Published numbers of one paper table: ``{row label: {column: value}}``.

    AP values are percentages as printed (35.3), ``params_m`` millions, ``time_ms``
    milliseconds; ``None`` where the paper prints "-". Non-metric facts (``epochs``,
    ``gpu``, ``fps``, ``train_mem_gb``, ``aug``, ``size``) appear under their own keys.

    Args:
        table_id: e.g. ``"centermask-table4"`` or ``"sais-table2"``; see
            :func:`paper_table_ids`.

    Returns:
        A fresh dict (callers may modify it), rows in the paper's order.
    """
    rows = paper_table_info(table_id)["rows"]
    return {str(label): dict(values or {}) for label, values in rows.items()}
