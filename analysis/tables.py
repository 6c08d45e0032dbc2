"""Paper tables from runs: cells with seed statistics, noise markers, staleness and lineage.

:func:`build_table` turns the tidy runs DataFrame (:mod:`analysis.runs`) and a study's table
section (:mod:`analysis.spec`) into a :class:`Table`; :mod:`analysis.render` prints it as
LaTeX, Markdown or CSV and writes the JSON lineage manifest.

Selection rules, per row:

* a run belongs to a row when it is a job run of this study whose levels include the row's
  levels, or when its job hash is one of the row's expected hashes (a run deduplicated into
  another study's experiment);
* only succeeded runs count (failed ones are listed in the manifest);
* one run per seed: a run with a current (expected) job hash is preferred over a stale one,
  then the latest; the others are listed as superseded;
* a run is stale when expected hashes are known for the row and its hash is not among them.
"""
from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from .paper import PaperValue
from .spec import DEFAULT_COLUMNS, ColumnSpec, RowSpec, StudyInfo, TableSpec, column_spec
from .stats import NoiseVerdict, mean, noise_verdict, sample_std

ExpectedHashes = Mapping[str, Collection[str]]


class TableBuildError(ValueError):
    """The runs cannot be laid out as asked (e.g. a cell would mix profiles)."""


@dataclass(frozen=True)
class RunRef:
    """Lineage of one run used by a row."""

    run_id: str
    experiment_id: str
    seed: int | None
    job_hash: str | None
    git_commit: str | None
    git_dirty: bool | None
    dataset: str | None
    profile: str | None
    study: str | None
    stale: bool


@dataclass
class Cell:
    """One (row, column) cell: per-seed values in printed units and where they came from."""

    row: str
    column: ColumnSpec
    values: dict[int, float] = field(default_factory=dict)
    runs: list[RunRef] = field(default_factory=list)
    paper: PaperValue = None
    noise: NoiseVerdict | None = None
    #: A time measured while other processes used the machine, or whose run does not say
    #: (``cm.time_contended`` not ``false``): shown marked, never ranked (bold).
    contended: bool = False

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def missing(self) -> bool:
        return not self.values

    @property
    def mean(self) -> float | None:
        return mean(list(self.values.values())) if self.values else None

    @property
    def std(self) -> float | None:
        return sample_std(list(self.values.values()))

    @property
    def stale(self) -> bool:
        return any(r.stale for r in self.runs)

    @property
    def within_noise(self) -> bool:
        return bool(self.noise and self.noise.within_noise)

    @property
    def seeds(self) -> list[int]:
        return sorted(self.values)

    @property
    def run_ids(self) -> list[str]:
        return [r.run_id for r in self.runs]

    @property
    def job_hashes(self) -> list[str]:
        return sorted({r.job_hash for r in self.runs if r.job_hash})

    @property
    def git_commits(self) -> list[str]:
        return sorted({r.git_commit for r in self.runs if r.git_commit})


@dataclass
class Row:
    """One table row: its spec, cells by column, and the runs considered for it."""

    spec: RowSpec
    cells: dict[str, Cell]
    runs: list[RunRef]
    superseded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    missing_job_hashes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def baseline(self) -> str | None:
        b = self.spec.baseline
        return None if b == self.spec.name else b

    @property
    def stale(self) -> bool:
        return any(r.stale for r in self.runs)


@dataclass
class Table:
    """A laid-out table, ready for :mod:`analysis.render`."""

    study: str
    spec: TableSpec
    rows: list[Row]
    profile: str | None = None
    datasets: list[str] = field(default_factory=list)
    expected_known: bool = False
    #: Devices the time column was measured on (``cm.time_hardware`` of its runs).
    time_hardware: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[ColumnSpec]:
        return self.spec.columns

    def cell(self, row: str, column: str) -> Cell:
        for r in self.rows:
            if r.name == row:
                return r.cells[column]
        raise KeyError(row)

    def best(self, column: ColumnSpec) -> set[str]:
        """Rows whose printed mean is the best of the column (ties share it).

        Empty when the column has no direction (params) or fewer than two values.
        """
        if column.better is None:
            return set()
        printed = {r.name: round(c.mean, column.decimals) for r in self.rows
                   if (c := r.cells[column.name]).mean is not None and not c.contended}
        if len(printed) < 2:
            return set()
        target = max(printed.values()) if column.better == "max" else min(printed.values())
        return {name for name, v in printed.items() if v == target}


def _matches(levels: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(levels.get(axis) == level for axis, level in wanted.items())


def _value(run: pd.Series, column: ColumnSpec) -> float | None:
    key = column.metric[len("test/coco/"):] if column.metric.startswith("test/coco/") \
        else column.metric
    v = run.get(key)
    if v is None or pd.isna(v):
        return None
    v = float(v) * column.scale
    return v if math.isfinite(v) else None


def select_profile(runs: pd.DataFrame, profile: str | None,
                   default_profile: str | None = None) -> tuple[pd.DataFrame, str | None]:
    """Keep the runs of one profile.

    With ``profile=None``: the study's default profile if it has runs, else the only profile
    present. Several profiles and no choice is an error: a cell must not mix budgets.

    Raises:
        TableBuildError: the choice is ambiguous.
    """
    if runs.empty or "profile" not in runs:
        return runs, profile
    if profile is not None:
        return runs[runs["profile"] == profile], profile
    present = sorted({p for p in runs["profile"] if isinstance(p, str)})
    if len(present) <= 1:
        return runs, present[0] if present else None
    if default_profile in present:
        return runs[runs["profile"] == default_profile], default_profile
    raise TableBuildError(f"runs of several profiles ({', '.join(present)}): choose one with "
                          "--profile")


def build_table(runs: pd.DataFrame, spec: TableSpec, *, study: str,
                expected: ExpectedHashes | None = None, profile: str | None = None,
                default_profile: str | None = None) -> Table:
    """Lay out runs as the table section says.

    Args:
        runs: tidy runs (:func:`analysis.runs.load_runs`), of this study and of the expected
            job hashes.
        spec: the table section.
        study: the study name (``cm.study`` of its own runs).
        expected: row name -> current job hashes (one per seed), e.g. from the orchestrator's
            plan. Rows listed here get staleness checks; runs with these hashes join the row
            even when they live in another study's experiment.
        profile, default_profile: see :func:`select_profile`.

    Returns:
        The :class:`Table`; missing cells have no values (printed ``--``, never 0).
    """
    runs, profile = select_profile(runs, profile, default_profile)
    expected = expected or {}
    unknown = set(expected) - {r.name for r in spec.rows}
    if unknown:
        raise TableBuildError(f"expected job hashes given for unknown row(s) {sorted(unknown)}")
    rows: list[Row] = []
    datasets: set[str] = set()
    hardware: set[str] = set()
    for rspec in spec.rows:
        want = set(expected.get(rspec.name, ()))
        has_expected = rspec.name in expected
        chosen: dict[int | None, pd.Series] = {}
        superseded: list[str] = []
        failed: list[str] = []
        for _, run in runs.iterrows():
            own = run["study"] == study and _matches(run["levels"] or {}, rspec.levels)
            if not (own or run["job_hash"] in want):
                continue
            if run["status"] != "succeeded":
                failed.append(run["run_id"])
                continue
            seed = None if pd.isna(run["seed"]) else int(run["seed"])
            prev = chosen.get(seed)
            if prev is None:
                chosen[seed] = run
                continue
            # Prefer a current hash, then the later run; runs arrive sorted by start time.
            if prev["job_hash"] in want and run["job_hash"] not in want:
                superseded.append(run["run_id"])
            else:
                superseded.append(prev["run_id"])
                chosen[seed] = run
        ordered = sorted(chosen.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))
        refs = []
        for seed, run in ordered:
            refs.append(RunRef(run["run_id"], str(run["experiment_id"]), seed, run["job_hash"],
                               run["git_commit"], run["git_dirty"], run["dataset"],
                               run["profile"], run["study"],
                               stale=has_expected and run["job_hash"] not in want))
            if run["dataset"]:
                datasets.add(run["dataset"])
        cells = {}
        for col in spec.columns:
            cell = Cell(rspec.name, col, paper=spec.paper.get(rspec.name, {}).get(col.name))
            for ref, (_, run) in zip(refs, ordered, strict=True):
                v = _value(run, col)
                if v is None:
                    continue
                seed = ref.seed if ref.seed is not None else -1
                cell.values[seed] = v
                cell.runs.append(ref)
                if col.name == "time_ms":
                    # Not measured alone, or before jobs recorded it: not comparable.
                    cell.contended |= str(run.get("time_contended")) != "false"
                    if isinstance(hw := run.get("time_hardware"), str) and hw:
                        hardware.add(hw)
            cells[col.name] = cell
        present = {r.job_hash for r in refs}
        rows.append(Row(rspec, cells, refs, superseded, failed,
                        sorted(want - present)))

    by_name = {r.name: r for r in rows}
    for row in rows:
        base = by_name.get(row.baseline) if row.baseline else None
        if base is None:
            continue
        for col in spec.columns:
            cell, bcell = row.cells[col.name], base.cells[col.name]
            if col.noise_test and not cell.missing and not bcell.missing:
                cell.noise = noise_verdict(cell.values, bcell.values)
    return Table(study, spec, rows, profile, sorted(datasets), bool(expected),
                 sorted(hardware))


def auto_table_spec(study: StudyInfo, runs: pd.DataFrame) -> TableSpec:
    """A table spec for a study without a ``table`` section.

    One row per level combination found among the study's runs (in the axes' level order),
    default columns, and the all-``{}``-levels combination (if present) as baseline.
    """
    own = runs[runs["study"] == study.name] if not runs.empty else runs
    combos: list[dict[str, str]] = []
    for levels in own["levels"] if not own.empty else []:
        if levels not in combos:
            combos.append(dict(levels))

    def order(levels: Mapping[str, str]) -> tuple[int, ...]:
        return tuple(study.axes.get(a, []).index(lv) if lv in study.axes.get(a, []) else 999
                     for a, lv in sorted(levels.items(), key=lambda kv: list(study.axes).index(
                         kv[0]) if kv[0] in study.axes else 999))

    combos.sort(key=order)

    def name(levels: Mapping[str, str]) -> str:
        return ", ".join(f"{a}={lv}" for a, lv in levels.items()) or "(base)"

    baseline = next((name(c) for c in combos if study.baseline_levels
                     and c == study.baseline_levels), None)
    rows = [RowSpec(name(c), c, baseline) for c in combos]
    return TableSpec(study.description or study.name, None, rows, baseline,
                     [column_spec(c) for c in DEFAULT_COLUMNS])


def with_columns(spec: TableSpec, columns: list[str]) -> TableSpec:
    """The same table with other columns (e.g. Figure 1 needs segm_mAP and time_ms)."""
    return replace(spec, columns=[column_spec(c, spec.decimals) for c in columns])


def manifest(table: Table, *, tracking_uri: str | None = None,
             link_base: str | None = None) -> dict[str, Any]:
    """JSON-ready lineage of every cell (format in docs/analysis.md)."""

    def link(ref: RunRef) -> str | None:
        if not link_base:
            return None
        return f"{link_base.rstrip('/')}/#/experiments/{ref.experiment_id}/runs/{ref.run_id}"

    rows = []
    for row in table.rows:
        cells = {}
        for col in table.columns:
            c = row.cells[col.name]
            v = c.noise
            cells[col.name] = {
                "metric": col.metric, "scale": col.scale,
                "mean": c.mean, "std": c.std, "n": c.n,
                "values": {str(s): x for s, x in sorted(c.values.items())},
                "paper": c.paper,
                "stale": c.stale, "missing": c.missing,
                "within_noise": None if v is None else v.within_noise,
                "test": None if v is None else v.test,
                "p_value": None if v is None else v.p_value,
                "delta_vs_baseline": None if v is None else v.delta,
                "run_ids": c.run_ids, "job_hashes": c.job_hashes,
                "git_commits": c.git_commits,
            }
        rows.append({
            "name": row.name, "levels": row.spec.levels, "baseline": row.baseline,
            "stale": row.stale,
            "runs": [{**ref.__dict__, "url": link(ref)} for ref in row.runs],
            "superseded_run_ids": row.superseded, "failed_run_ids": row.failed,
            "missing_job_hashes": row.missing_job_hashes,
            "cells": cells,
        })
    return {
        "study": table.study, "title": table.spec.title, "label": table.spec.label,
        "profile": table.profile, "datasets": table.datasets, "tracking_uri": tracking_uri,
        "paper_ref": table.spec.paper_ref, "staleness_checked": table.expected_known,
        "columns": [c.name for c in table.columns], "rows": rows,
    }
