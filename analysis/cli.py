"""``table`` and ``figure`` subcommands.

The orchestrator's command table adds them (:func:`add_table_arguments`,
:func:`add_figure_arguments`); ``python -m analysis`` runs them alone (:func:`register`).
Registration imports nothing heavy (pandas, MLflow and matplotlib load when a command
runs), so ``orchestrator --help`` stays instant. Options shared with a parent
parser (``--tracking-uri``, ``--workspace``) use ``argparse.SUPPRESS`` defaults so a value
given before the subcommand is not overwritten.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._options import FORMATS, PAPER_MODES

if TYPE_CHECKING:
    from .spec import StudyInfo


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("study", help="study file (path, or name in experiments/studies/)")
    p.add_argument("--profile", default=None,
                   help="use the runs of this study profile (default: the study's "
                        "default_profile, or the only one present)")
    p.add_argument("--tracking-uri", default=argparse.SUPPRESS,
                   help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or "
                        "sqlite:///<workspace>/mlflow.db)")
    p.add_argument("--workspace", default=argparse.SUPPRESS,
                   help="workspace folder (default: .workspace/ in the repository root)")
    p.add_argument("--no-staleness", action="store_true",
                   help="do not ask the orchestrator's plan for the current job hashes")


TABLE_DESCRIPTION = ("Lay out a study's runs as its table section says (mean ± std over "
                     "seeds, noise and staleness markers, the paper's numbers).")
FIGURE_DESCRIPTION = ("Mask AP against inference time per table row, one marker per backbone "
                      "family; writes PREFIX.png and PREFIX.pdf.")


def add_table_arguments(t: argparse.ArgumentParser) -> None:
    """The arguments of ``table`` (run by :func:`cmd_table`)."""
    _common(t)
    t.add_argument("--format", choices=FORMATS, default="latex")
    t.add_argument("--out", type=Path, default=None, help="write here instead of stdout")
    t.add_argument("--manifest", type=Path, default=None,
                   help="also write the JSON lineage manifest (runs behind every cell)")
    t.add_argument("--paper", choices=PAPER_MODES, default="rows",
                   help="paper numbers as italic rows under ours, as deltas, or not at all")
    t.add_argument("--link-base", default=None,
                   help="MLflow UI address; run links go into the manifest")


def add_figure_arguments(f: argparse.ArgumentParser) -> None:
    """The arguments of ``figure`` (run by :func:`cmd_figure`)."""
    _common(f)
    f.add_argument("--out", type=Path, default=None,
                   help="output prefix (default: <workspace>/figures/<study>-figure1)")
    f.add_argument("--no-paper", action="store_true", help="leave out the paper's points")


def register(subparsers: Any) -> None:
    """Add ``table`` and ``figure`` to an ``argparse`` subparsers object (``python -m
    analysis``; the orchestrator's command table uses the two ``add_*_arguments``).

    Each sets ``func`` (``args -> int`` exit code) as its default.
    """
    t = subparsers.add_parser("table", help="print a study's paper table from its MLflow runs",
                              description=TABLE_DESCRIPTION)
    add_table_arguments(t)
    t.set_defaults(func=cmd_table)
    f = subparsers.add_parser("figure", help="draw Figure 1 (mask AP vs inference time) for "
                                             "a study", description=FIGURE_DESCRIPTION)
    add_figure_arguments(f)
    f.set_defaults(func=cmd_figure)


def _errors() -> tuple[type[Exception], ...]:
    from .paper import PaperNumbersError
    from .spec import StudySpecError
    from .tables import TableBuildError

    return (StudySpecError, TableBuildError, PaperNumbersError, FileNotFoundError, ValueError)


def _context(args: argparse.Namespace) -> tuple[StudyInfo, str, dict[str, set[str]] | None]:
    from .report import expected_job_hashes, load_study
    from .runs import check_store, default_tracking_uri

    workspace = getattr(args, "workspace", None)
    info = load_study(args.study, profile=args.profile, workspace=workspace)
    # Fail fast, before the (seconds long) plan for the expected job hashes.
    uri = check_store(getattr(args, "tracking_uri", None) or default_tracking_uri(workspace))
    expected = None if args.no_staleness else expected_job_hashes(info)
    return info, uri, expected


def cmd_table(args: argparse.Namespace) -> int:
    """Run ``table``; returns the exit code (2 on bad input)."""
    from .render import render
    from .report import study_table
    from .tables import manifest

    try:
        info, uri, expected = _context(args)
        table, runs = study_table(info, tracking_uri=uri, profile=args.profile,
                                  expected=expected)
        if runs.empty:
            print(f"note: no job runs of study {info.name!r} in {uri}", file=sys.stderr)
        text = render(table, args.format, args.paper)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
        if args.manifest:
            args.manifest.parent.mkdir(parents=True, exist_ok=True)
            data = manifest(table, tracking_uri=uri, link_base=args.link_base)
            args.manifest.write_text(json.dumps(data, indent=2, default=str) + "\n",
                                     encoding="utf-8")
    except _errors() as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def cmd_figure(args: argparse.Namespace) -> int:
    """Run ``figure``; prints the written paths."""
    from .figures import figure1, save_figure
    from .report import FIGURE_COLUMNS, default_figure_prefix, study_table, time_hardware

    try:
        info, uri, expected = _context(args)
        table, runs = study_table(info, tracking_uri=uri, profile=args.profile,
                                  expected=expected, columns=FIGURE_COLUMNS)
        fig = figure1(table, paper=not args.no_paper, time_hardware=time_hardware(runs))
        prefix = args.out or default_figure_prefix(info.name, getattr(args, "workspace", None))
        for p in save_figure(fig, prefix):
            print(p)
    except _errors() as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m analysis {table,figure} ...``."""
    parser = argparse.ArgumentParser(prog="python -m analysis",
                                     description="Paper tables and figures from MLflow runs.")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))
