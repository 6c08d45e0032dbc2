"""Python inference API: mmdet's ``DetInferencer`` that keeps CenterMask's mask scores."""
from .centermask_inferencer import CenterMaskInferencer

__all__ = ["CenterMaskInferencer"]
