"""roi_heads: each module registers one component in mmdet.registry."""
from .centermask_roi_head import CenterMaskRoIHead
from .mask_heads import SAGMaskHead, SpatialAttention
from .roi_extractors import ScaleAdaptiveRoIExtractor

__all__: list[str] = [
    "CenterMaskRoIHead", "SAGMaskHead", "ScaleAdaptiveRoIExtractor", "SpatialAttention"]
