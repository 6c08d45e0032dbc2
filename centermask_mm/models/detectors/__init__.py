"""detectors: each module registers one component in mmdet.registry."""
from .centermask import CenterMask

__all__: list[str] = ["CenterMask"]
