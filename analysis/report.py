"""One call from a study file to its table or figure (used by the CLI and the notebooks)."""
from __future__ import annotations

import sys
from collections.abc import Collection, Mapping
from dataclasses import replace
from pathlib import Path

import pandas as pd

from .runs import load_runs, workspace_dir
from .spec import StudyInfo, TableSpec, study_info
from .tables import Table, auto_table_spec, build_table, with_columns

FIGURE_COLUMNS = ["segm_mAP", "time_ms"]


def load_study(study: str | Path, *, profile: str | None = None,
               workspace: str | Path | None = None) -> StudyInfo:
    """A study file (a path, or a name such as ``table1``) read by the orchestrator's study
    reader, as the analysis sees it under ``profile`` (default: the study's).

    This is the one call analysis makes into the orchestrator:
    :func:`orchestrator.describe_study`. The staleness and reference-number questions go to
    the view it returns (:func:`expected_job_hashes`, :func:`published_references`).

    Raises:
        StudyError: Unreadable or invalid study file, or no such profile (a ``ValueError``
            naming file, line and key).
        StudySpecError: A malformed ``table`` section.
    """
    import orchestrator

    return study_info(orchestrator.describe_study(study, profile=profile,
                                                  workspace=workspace))


def _note(text: str) -> None:
    print(f"note: {text}", file=sys.stderr)


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def expected_job_hashes(info: StudyInfo) -> dict[str, set[str]] | None:
    """Current job hashes per table row, from the orchestrator's plan of the study (made
    without building models) under the profile ``info`` was loaded with.

    Returns:
        row name -> job hashes, or ``None`` (with a note on stderr) when the plan fails;
        the table is then printed without staleness marks.
    """
    if info.view is None:
        _note("staleness not checked: the study was not read by the orchestrator")
        return None
    try:
        hashes = info.view.expected_job_hashes()
    except Exception as e:  # noqa: BLE001  the table is still worth printing without it
        _note(f"staleness not checked: planning the study failed: {_first_line(e)}")
        return None
    return {str(k): set(v) for k, v in hashes.items()}


def published_references(spec: TableSpec, info: StudyInfo) -> TableSpec:
    """``spec`` with, for an evaluation profile (published checkpoints), each evaluated row's
    reference numbers replaced by the AP published for its checkpoint (the metafile's, via
    the study view's ``reference_numbers``) and a note saying so; other rows keep the
    paper's numbers. Unchanged for training profiles."""
    if info.view is None:
        return spec
    profile = info.view.profile
    try:
        refs = info.view.reference_numbers()
    except Exception as e:  # noqa: BLE001  the table is still worth printing without it
        _note(f"published reference numbers not read: {_first_line(e)}")
        return spec
    if not refs:
        return spec
    paper = {row: dict(values) for row, values in spec.paper.items()}
    for row, (_, _, values) in refs.items():
        paper[row] = dict(values)  # the paper's other columns describe another model
    which = "; ".join(f"{row}: {model}" + ("" if dataset == "COCO" else f" ({dataset})")
                      for row, (model, dataset, _) in refs.items())
    note = (f"except for the rows profile {profile} evaluates from published checkpoints, "
            "whose reference is the mask / box AP published for that checkpoint "
            "(configs/centermask/metafile.yml; COCO val2017 unless marked), not the paper's "
            f"row: {which}")
    return replace(spec, paper=paper, reference_note=note)


def study_table(study: str | Path | StudyInfo, *, tracking_uri: str | None = None,
                profile: str | None = None,
                expected: Mapping[str, Collection[str]] | None = None,
                columns: list[str] | None = None,
                runs: pd.DataFrame | None = None) -> tuple[Table, pd.DataFrame]:
    """Load a study's runs from MLflow and lay out its table.

    Args:
        study: study file path/name, or a :class:`StudyInfo` from :func:`load_study` (with
            the same ``profile``).
        tracking_uri: MLflow tracking URI (default: env or ``.workspace/mlflow.db``).
        profile: the study profile whose runs to use (see :func:`select_profile`).
        expected: row -> current job hashes; enables staleness marks and finds runs
            deduplicated into other studies.
        columns: override the table's columns (Figure 1 uses ``segm_mAP``, ``time_ms``).
        runs: use these runs instead of searching MLflow.

    Returns:
        The table and the runs it was built from.
    """
    info = study if isinstance(study, StudyInfo) else load_study(study, profile=profile)
    if runs is None:
        hashes = sorted({h for hs in (expected or {}).values() for h in hs})
        runs = load_runs(tracking_uri, study=info.name, job_hashes=hashes)
    spec = info.table or auto_table_spec(info, runs)
    if info.table is not None:
        spec = published_references(spec, info)
    if columns is not None:
        spec = with_columns(spec, columns)
    table = build_table(runs, spec, study=info.name, expected=expected, profile=profile,
                        default_profile=info.default_profile)
    return table, runs


def time_hardware(runs: pd.DataFrame) -> str | None:
    """The devices the times were measured on (``cm.time_hardware``), joined."""
    if runs.empty or "time_hardware" not in runs:
        return None
    hw = sorted({h for h in runs["time_hardware"] if isinstance(h, str) and h})
    return ", ".join(hw) or None


def default_figure_prefix(study_name: str, workspace: str | Path | None = None) -> Path:
    return workspace_dir(workspace) / "figures" / f"{study_name}-figure1"
