"""The study reader: a study file -> validated :class:`Study` (:func:`load_study`), and a
file's name and kind without validation (:func:`study_header`).

The reader is split by role: :mod:`.loading` reads the YAML safely (size, UTF-8, tags,
alias and depth limits, the line of every key); :mod:`.validate` checks the schema
(:func:`parse_study`; the ``profiles`` section, shared profile files and evaluation
sections in :mod:`.profiles`, typed fields and names in :mod:`.fields`) into the data of
:mod:`.model`; :mod:`.expand` gives the combinations. This module is the entry point, and
names what the rest of the package and the tests use from them.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import StudyError
from .expand import Combination, combinations
from .loading import MAX_STUDY_BYTES, load_yaml, read_study_text
from .model import KINDS, LEVEL_BASE_KEY, Axis, EvaluateModel, Level, Profile, Resources, Study
from .validate import parse_study

__all__ = ["KINDS", "LEVEL_BASE_KEY", "MAX_STUDY_BYTES", "Axis", "Combination", "EvaluateModel",
           "Level", "Profile", "Resources", "Study", "StudyHeader", "combinations",
           "load_study", "parse_study", "read_study_text", "study_header"]


def load_study(path: str | Path) -> Study:
    """Read and validate a study file (see :func:`read_study_text` for what is refused)."""
    path = Path(path)
    return parse_study(read_study_text(path), path)


@dataclass(frozen=True)
class StudyHeader:
    """What a command needs before it validates a study: its ``name`` (``None`` when the
    file has none) and ``kind`` (``ablation`` when unset)."""

    name: str | None
    kind: str


def study_header(path: str | Path) -> StudyHeader | None:
    """The name and kind of a study file, read with the study reader's YAML loader but not
    validated (cheap; a broken study still has a name to cancel by). ``None``: unreadable.
    """
    try:
        data, _, problems = load_yaml(read_study_text(Path(path)), str(path))
    except StudyError:  # unreadable, too large or not UTF-8: the full read says which
        return None
    if problems or not isinstance(data, Mapping):
        return None
    name, kind = data.get("name"), data.get("kind", "ablation")
    return StudyHeader(name if isinstance(name, str) else None,
                       kind if isinstance(kind, str) else "ablation")
