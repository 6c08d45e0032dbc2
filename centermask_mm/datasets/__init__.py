"""Data sets: the synthetic toy set and a strictly validated ``CocoDataset``."""
from .checked_coco_dataset import CheckedCocoDataset
from .coco_validation import AnnotationError, validate_coco
from .toy import CLASSES as TOY_CLASSES
from .toy import METAINFO as TOY_METAINFO

__all__ = ["CheckedCocoDataset", "AnnotationError", "validate_coco", "TOY_CLASSES",
           "TOY_METAINFO"]
