"""Paper tables and figures regenerated from the MLflow runs of a study.

Pipeline: :func:`load_runs` (MLflow search -> tidy DataFrame) -> :func:`build_table`
(cells with seed statistics, noise markers, staleness, lineage) -> :func:`render`
(LaTeX / Markdown / CSV) or :func:`figure1`. :func:`study_table` does the first two from a
study file. See docs/analysis.md.
"""
from __future__ import annotations

from .paper import PaperNumbersError, paper_numbers, paper_table_ids
from .render import render, to_csv, to_latex, to_markdown
from .report import study_table
from .runs import default_tracking_uri, load_runs, runs_frame
from .spec import StudySpecError, TableSpec, load_study, parse_table
from .stats import NoiseVerdict, noise_verdict
from .tables import Cell, Table, TableBuildError, build_table, manifest

__all__ = [
    "Cell", "NoiseVerdict", "PaperNumbersError", "StudySpecError", "Table", "TableBuildError",
    "TableSpec", "build_table", "default_tracking_uri", "figure1", "load_runs", "load_study",
    "manifest", "noise_verdict", "paper_numbers", "paper_table_ids", "parse_table", "render",
    "runs_frame", "save_figure", "study_table", "to_csv", "to_latex", "to_markdown",
]


def __getattr__(name: str) -> object:
    # matplotlib is imported only when a figure is asked for.
    if name in {"figure1", "save_figure"}:
        from . import figures
        return getattr(figures, name)
    raise AttributeError(name)
