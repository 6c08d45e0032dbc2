"""Data sets: the synthetic toy set and a strictly validated ``CocoDataset``."""
from __future__ import annotations

from typing import Any

from .checked_coco_dataset import CheckedCocoDataset
from .coco_validation import AnnotationError, validate_coco

__all__ = ["CheckedCocoDataset", "AnnotationError", "validate_coco", "TOY_CLASSES",
           "TOY_METAINFO"]


def __getattr__(name: str) -> Any:
    # The toy module is imported on first use only: `python -m centermask_mm.datasets.toy`
    # would otherwise find it already imported by this package and runpy warns about it.
    if name in ("TOY_CLASSES", "TOY_METAINFO"):
        from . import toy

        return toy.CLASSES if name == "TOY_CLASSES" else toy.METAINFO
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
