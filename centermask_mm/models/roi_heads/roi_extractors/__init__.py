"""RoI extractors."""
from .scale_adaptive_roi_extractor import ScaleAdaptiveRoIExtractor

__all__ = ["ScaleAdaptiveRoIExtractor"]
