"""Errors that point at the place in a study file that caused them."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a study file.

    Attributes:
        file: The study file.
        line: 1-based line of the offending key (0 when unknown).
        key: Dotted path of the key in the study file (``axes.backbone.v1-39``).
        message: What is wrong, and how to fix it when that is known.
    """

    file: str
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


#: Problems printed in a StudyError's message (the rest are counted).
MAX_SHOWN = 50


class StudyError(ValueError):
    """A study file failed validation; nothing was queued.

    Args:
        problems: Every problem found (validation does not stop at the first).
    """

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        n = len(self.problems)
        head = f"study file rejected ({n} problem{'s' * (n != 1)}); nothing was queued"
        shown = [f"  {p}" for p in self.problems[:MAX_SHOWN]]
        if n > MAX_SHOWN:  # all are in .problems; a screenful says what is wrong
            shown.append(f"  ... and {n - MAX_SHOWN} more problem(s)")
        super().__init__("\n".join([head, *shown]))
