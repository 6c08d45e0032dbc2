"""What ``analysis`` knows about a study: one call, :func:`describe_study`.

The study file is read by the one study reader (:mod:`orchestrator.study.reader`) and found
by the one workspace convention (:func:`orchestrator.workspace.find_study`). The view holds
what a table needs from the file (name, axes, seeds, profiles, the ``table`` section) and
answers the two questions that need the planner: the current job ids of each table row
(staleness) and, for an evaluation profile, the published reference numbers. Those two
import the planner only when asked, so reading a view stays cheap (no torch, no mmdet).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..workspace import REPO_ROOT, find_study
from .reader import Study, load_study


@dataclass(frozen=True)
class StudyView:
    """A validated study as ``analysis`` sees it.

    Attributes:
        path: The study file.
        name: Study name (the MLflow experiment).
        description: The study's description.
        axes: axis -> its level names, in file order.
        baseline_levels: axis -> its first level whose patch is ``{}`` (the baseline).
        seeds: The study's seeds.
        profiles: Profile names, in file order.
        default_profile: The profile used without ``--profile``.
        profile: The profile this view answers for (``profile=`` or the default).
        table: The ``table`` section as written (its rows' levels checked by the reader),
            or ``None``.
        workspace: Workspace folder for the planner (``None``: the default one).
    """

    path: Path
    name: str
    description: str
    axes: dict[str, list[str]]
    baseline_levels: dict[str, str]
    seeds: list[int]
    profiles: list[str]
    default_profile: str
    profile: str
    table: Mapping[str, Any] | None
    workspace: Path | None = None
    study: Study = field(repr=False, compare=False, default=None)  # type: ignore[assignment]

    def expected_job_hashes(self) -> dict[str, set[str]]:
        """Current job ids of each ``table`` row under :attr:`profile` (all seeds), from the
        plan made without building models.

        Raises:
            StudyError: The study does not plan (file, line and key in the message).
        """
        from .plan import table_job_ids

        return table_job_ids(self.study, self.profile, self.workspace)

    def reference_numbers(self) -> dict[str, tuple[str, str, dict[str, float]]]:
        """For an evaluation profile (published checkpoints): row -> (model name, data set,
        published AP by column). Empty for a training profile."""
        from .evaluate import published_references

        return published_references(self.study, self.profile, REPO_ROOT)


def describe_study(study: str | Path, *, profile: str | None = None,
                   workspace: str | Path | None = None) -> StudyView:
    """The :class:`StudyView` of a study file (path, or a name found by
    :func:`~orchestrator.workspace.find_study`) under ``profile`` (default: the study's).

    Raises:
        StudyError: Unreadable or invalid file, or no such profile (file, line and key).
    """
    s = load_study(find_study(study))
    chosen = s.profile(profile).name
    axes = {a.name: [lv.name for lv in a.levels] for a in s.axes}
    baseline = {}
    for a in s.axes:
        first = next((lv.name for lv in a.levels if not lv.patch and not lv.base), None)
        if first is not None:
            baseline[a.name] = first
    return StudyView(path=s.path, name=s.name, description=s.description, axes=axes,
                     baseline_levels=baseline, seeds=list(s.seeds), profiles=list(s.profiles),
                     default_profile=s.default_profile, profile=chosen, table=s.table,
                     workspace=None if workspace is None else Path(workspace), study=s)

