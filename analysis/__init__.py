"""Paper tables and figures regenerated from the MLflow runs of a study.

Pipeline: :func:`load_runs` (MLflow search -> tidy DataFrame) -> :func:`build_table`
(cells with seed statistics, noise markers, staleness, lineage) -> :func:`render`
(LaTeX / Markdown / CSV) or :func:`figure1`. :func:`study_table` does the first two from a
study file. See docs/analysis.md.

Names are imported lazily (PEP 562) so that ``import analysis.cli`` for the orchestrator's
``--help`` does not load pandas, MLflow or matplotlib.
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "PaperNumbersError": "paper", "paper_numbers": "paper", "paper_table_ids": "paper",
    "render": "render", "to_csv": "render", "to_latex": "render", "to_markdown": "render",
    "study_table": "report", "default_tracking_uri": "runs", "load_runs": "runs",
    "runs_frame": "runs", "StudySpecError": "spec", "TableSpec": "spec",
    "load_study": "report", "parse_table": "spec", "NoiseVerdict": "stats",
    "noise_verdict": "stats", "Cell": "tables", "Table": "tables",
    "TableBuildError": "tables", "build_table": "tables", "manifest": "tables",
    "figure1": "figures", "save_figure": "figures",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")
