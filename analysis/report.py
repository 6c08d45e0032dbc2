"""One call from a study file to its table or figure (used by the CLI and the notebooks)."""
from __future__ import annotations

import sys
from collections.abc import Collection, Mapping
from dataclasses import replace
from pathlib import Path

import pandas as pd

from .runs import load_runs, repo_root, workspace_dir
from .spec import StudyInfo, TableSpec, load_study
from .tables import Table, auto_table_spec, build_table, with_columns

FIGURE_COLUMNS = ["segm_mAP", "time_ms"]


def resolve_study_path(study: str | Path) -> Path:
    """A study argument as a file: the path itself, or relative to the repository root, or a
    name in ``experiments/studies/`` (with or without ``.yaml``).

    Raises:
        FileNotFoundError: listing the places tried.
    """
    p = Path(study)
    root = repo_root()
    tries = [p, root / p, root / "experiments" / "studies" / p,
             root / "experiments" / "studies" / f"{p}.yaml", root / "experiments" / p]
    for t in tries:
        if t.is_file():
            return t
    tried = ", ".join(dict.fromkeys(str(t) for t in tries))
    raise FileNotFoundError(f"study file {study!s} not found (tried: {tried})")


def _note(text: str) -> None:
    print(f"note: {text}", file=sys.stderr)


def expected_job_hashes(study_path: Path, profile: str | None, *,
                        workspace: str | Path | None = None) -> dict[str, set[str]] | None:
    """Current job hashes per table row, from the orchestrator's plan of the study.

    The one call analysis makes into the orchestrator:
    :func:`orchestrator.expected_job_hashes` (plans the study without building models).

    Returns:
        row name -> job hashes, or ``None`` (with a note on stderr) when the orchestrator
        is not installed or the plan fails; the table is then printed without staleness
        marks.
    """
    try:
        import orchestrator
    except ImportError:
        _note("orchestrator not importable; staleness not checked")
        return None
    try:
        hashes = orchestrator.expected_job_hashes(study_path, profile=profile,
                                                  workspace=workspace)
    except Exception as e:  # noqa: BLE001  the table is still worth printing without it
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        _note(f"staleness not checked: planning the study failed: {first}")
        return None
    return {str(k): set(v) for k, v in hashes.items()}


def published_references(spec: TableSpec, study_path: Path, profile: str | None
                          ) -> TableSpec:
    """``spec`` with, for an evaluation profile (published checkpoints), each evaluated row's
    reference numbers replaced by the AP published for its checkpoint (the metafile's, via
    :func:`orchestrator.reference_numbers`) and a note saying so; other rows keep the
    paper's numbers. Unchanged for training profiles or when the orchestrator is absent."""
    try:
        import orchestrator

        refs = orchestrator.reference_numbers(study_path, profile)
    except Exception as e:  # noqa: BLE001  the table is still worth printing without it
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        _note(f"published reference numbers not read: {first}")
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
        study: study file path/name, or an already loaded :class:`StudyInfo`.
        tracking_uri: MLflow tracking URI (default: env or ``.workspace/mlflow.db``).
        profile: the study profile whose runs to use (see :func:`select_profile`).
        expected: row -> current job hashes; enables staleness marks and finds runs
            deduplicated into other studies.
        columns: override the table's columns (Figure 1 uses ``segm_mAP``, ``time_ms``).
        runs: use these runs instead of searching MLflow.

    Returns:
        The table and the runs it was built from.
    """
    info = study if isinstance(study, StudyInfo) else load_study(resolve_study_path(study))
    if runs is None:
        hashes = sorted({h for hs in (expected or {}).values() for h in hs})
        runs = load_runs(tracking_uri, study=info.name, job_hashes=hashes)
    spec = info.table or auto_table_spec(info, runs)
    if info.table is not None and info.path is not None:
        spec = published_references(spec, info.path, profile or info.default_profile)
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
