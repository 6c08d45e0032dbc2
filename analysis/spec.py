"""What a table should look like: the study's ``table`` section (docs/contracts.md §2).

The study file itself is read by the orchestrator's study reader
(:func:`orchestrator.describe_study`, called in :mod:`analysis.report`); this module lays
out the table on top of what it returns (:func:`study_info`).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .paper import PaperNumbersError, PaperRows, paper_numbers

if TYPE_CHECKING:
    import orchestrator

AP_COLUMN = re.compile(r"^(?P<task>segm|bbox)_mAP(?:_(?P<sub>50|75|s|m|l))?$")
METRIC_PREFIX = "test/coco/"
DEFAULT_COLUMNS = ("segm_mAP", "segm_mAP_s", "segm_mAP_m", "segm_mAP_l", "bbox_mAP",
                   "params_m", "time_ms")


class StudySpecError(ValueError):
    """A study file or its ``table`` section is malformed; the message names file and key."""


@dataclass(frozen=True)
class ColumnSpec:
    """How one table column is read from MLflow and printed.

    Attributes:
        name: column id as in ``table.columns`` (``segm_mAP_s``, ``params_m``, ...).
        metric: MLflow metric key (``test/coco/segm_mAP_s``).
        scale: factor from the logged value to the printed one (AP fractions -> x100).
        decimals: digits after the point when printed.
        better: ``"max"``, ``"min"`` or ``None`` (no bold; params are a cost, not a score).
        noise_test: whether the within-noise marker applies (not to deterministic params).
        latex: LaTeX header; ``markdown``: Markdown header.
    """

    name: str
    metric: str
    scale: float
    decimals: int
    better: str | None
    noise_test: bool
    latex: str
    markdown: str


def column_spec(name: str, ap_decimals: int = 1) -> ColumnSpec:
    """The :class:`ColumnSpec` of a column id.

    Raises:
        ValueError: the id is neither an AP column nor ``params_m`` / ``time_ms``.
    """
    m = AP_COLUMN.match(name)
    if m:
        task = "mask" if m["task"] == "segm" else "box"
        sub = m["sub"]
        sub_tex = {"s": "S", "m": "M", "l": "L"}.get(sub or "", sub or "")
        latex = r"$\mathrm{AP}^{\mathrm{" + task + "}}" + (f"_{{{sub_tex}}}" if sub else "") + "$"
        # Plain text that reads the same in a terminal and rendered: "mask AP50", "box AP (S)".
        markdown = f"{task} AP" + {"50": "50", "75": "75", None: ""}.get(sub, f" ({sub_tex})")
        return ColumnSpec(name, METRIC_PREFIX + name, 100.0, ap_decimals, "max", True, latex,
                          markdown)
    if name == "params_m":
        return ColumnSpec(name, "params_m", 1.0, 1, None, False, "Params (M)", "Params (M)")
    if name == "time_ms":
        return ColumnSpec(name, "time_ms", 1.0, 0, "min", True, "Time (ms)", "Time (ms)")
    raise ValueError(
        f"unknown column {name!r}: expected segm_/bbox_mAP[_50|_75|_s|_m|_l], params_m or "
        "time_ms")


_UNSET: Any = object()


@dataclass(frozen=True)
class RowSpec:
    """One table row.

    Attributes:
        name: row label as printed.
        levels: axis -> level; a job belongs to the row when its levels include these.
        baseline: row this one is compared with; ``None`` for none. Defaults to the table's.
        family: backbone family for Figure 1 (guessed from the levels/name when empty).
        group: rows of one group sit together; LaTeX draws a rule where the group changes
            (Table 4's depths). ``None``: no group.
    """

    name: str
    levels: dict[str, str]
    baseline: str | None = None
    family: str | None = None
    group: str | None = None


@dataclass(frozen=True)
class TableSpec:
    """The ``table`` section of a study file, validated and with paper numbers resolved."""

    title: str
    label: str | None
    rows: list[RowSpec]
    baseline: str | None
    columns: list[ColumnSpec]
    decimals: int = 1
    paper: PaperRows = field(default_factory=dict)
    paper_ref: str | None = None
    row_header: str = ""
    #: Says which reference numbers ``paper`` holds when they are not (all) the paper's.
    reference_note: str | None = None

    def row(self, name: str) -> RowSpec:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(name)


@dataclass(frozen=True)
class StudyInfo:
    """The fields of a study the analysis uses, and the orchestrator's view it came from
    (``view``: the staleness and reference-number questions; ``None`` for a hand-made one).
    """

    name: str
    path: Path | None
    description: str
    axes: dict[str, list[str]]
    baseline_levels: dict[str, str]
    seeds: list[int]
    default_profile: str | None
    table: TableSpec | None
    view: orchestrator.StudyView | None = field(default=None, repr=False, compare=False)


def _err(where: str, key: str, msg: str) -> StudySpecError:
    return StudySpecError(f"{where}: {key}: {msg}")


def parse_table(raw: Any, *, where: str = "<table>",
                axes: Mapping[str, list[str]] | None = None) -> TableSpec:
    """Validate a ``table`` section.

    Args:
        raw: the parsed YAML mapping.
        where: file name for error messages.
        axes: the study's axes (axis -> level names) to check row levels against.

    Raises:
        StudySpecError: naming ``where`` and the key, e.g. ``table.rows[2].levels``.
    """
    if not isinstance(raw, Mapping):
        raise _err(where, "table", "expected a mapping")
    decimals = raw.get("decimals", 1)
    if not isinstance(decimals, int) or isinstance(decimals, bool) or not 0 <= decimals <= 4:
        raise _err(where, "table.decimals", f"expected an integer 0..4, got {decimals!r}")

    raw_columns = raw.get("columns", list(DEFAULT_COLUMNS))
    if not isinstance(raw_columns, list) or not raw_columns:
        raise _err(where, "table.columns", "expected a non-empty list")
    columns = []
    for i, c in enumerate(raw_columns):
        try:
            columns.append(column_spec(str(c), decimals))
        except ValueError as e:
            raise _err(where, f"table.columns[{i}]", str(e)) from None
    if len({c.name for c in columns}) != len(columns):
        raise _err(where, "table.columns", "duplicate column")

    raw_rows = raw.get("rows")
    if not isinstance(raw_rows, list) or not raw_rows:
        raise _err(where, "table.rows", "expected a non-empty list of {name, levels}")
    table_baseline = raw.get("baseline")
    rows: list[RowSpec] = []
    for i, r in enumerate(raw_rows):
        key = f"table.rows[{i}]"
        if not isinstance(r, Mapping) or "name" not in r:
            raise _err(where, key, "expected a mapping with 'name' and 'levels'")
        unknown = set(r) - {"name", "levels", "baseline", "family", "group"}
        if unknown:
            raise _err(where, key, f"unknown key(s) {sorted(unknown)}")
        levels = r.get("levels", {})
        if not isinstance(levels, Mapping):
            raise _err(where, f"{key}.levels", "expected a mapping axis -> level")
        levels = {str(k): str(v) for k, v in levels.items()}
        if axes is not None:
            for axis, level in levels.items():
                if axis not in axes:
                    raise _err(where, f"{key}.levels.{axis}",
                               f"no such axis (axes: {', '.join(axes)})")
                if level not in axes[axis]:
                    raise _err(where, f"{key}.levels.{axis}",
                               f"no level {level!r} (levels: {', '.join(axes[axis])})")
        baseline = r["baseline"] if "baseline" in r else table_baseline
        family, group = r.get("family"), r.get("group")
        rows.append(RowSpec(str(r["name"]), levels,
                            None if baseline is None else str(baseline),
                            None if family is None else str(family),
                            None if group is None else str(group)))
    names = [r.name for r in rows]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise _err(where, "table.rows", f"duplicate row name(s) {sorted(dup)}")
    for i, r in enumerate(rows):
        if r.baseline is not None and r.baseline not in names:
            key = "table.baseline" if r.baseline == table_baseline else \
                f"table.rows[{i}].baseline"
            raise _err(where, key, f"{r.baseline!r} is not a row name")

    paper_ref = None
    raw_paper = raw.get("paper", {}) or {}
    if isinstance(raw_paper, str):
        paper_ref = raw_paper
        try:
            paper = {k: v for k, v in paper_numbers(raw_paper).items() if k in names}
        except PaperNumbersError as e:
            raise _err(where, "table.paper", str(e)) from None
    elif isinstance(raw_paper, Mapping):
        paper = {}
        for row_name, values in raw_paper.items():
            if str(row_name) not in names:
                raise _err(where, f"table.paper.{row_name}", "is not a row name")
            if not isinstance(values, Mapping):
                raise _err(where, f"table.paper.{row_name}", "expected a mapping column -> value")
            for col, v in values.items():
                if v is not None and not isinstance(v, (int, float, str, bool)):
                    raise _err(where, f"table.paper.{row_name}.{col}", f"bad value {v!r}")
            paper[str(row_name)] = {str(k): v for k, v in values.items()}
    else:
        raise _err(where, "table.paper", "expected a mapping or a paper table id")

    title = raw.get("title") or ""
    label = raw.get("label")
    return TableSpec(str(title), None if label is None else str(label), rows,
                     None if table_baseline is None else str(table_baseline), columns,
                     decimals, paper, paper_ref, str(raw.get("row_header") or ""))


def study_info(view: orchestrator.StudyView) -> StudyInfo:
    """The analysis's :class:`StudyInfo` of an orchestrator :class:`StudyView`: its
    ``table`` section validated as a table (:func:`parse_table`).

    Raises:
        StudySpecError: A malformed ``table`` section, naming the file and key.
    """
    table = None
    if view.table is not None:
        table = parse_table(view.table, where=str(view.path), axes=view.axes or None)
    return StudyInfo(view.name, view.path, view.description, dict(view.axes),
                     dict(view.baseline_levels), list(view.seeds), view.default_profile,
                     table, view)
