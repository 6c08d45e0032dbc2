"""Choices shared by the renderers and the CLI (kept import-free so the CLI stays cheap)."""
from __future__ import annotations

#: Output formats of ``table``.
FORMATS = ("latex", "md", "csv")
#: How the paper's numbers appear: italic rows under ours, deltas in the cells, or not.
PAPER_MODES = ("rows", "delta", "none")
