"""detectors: each module registers one component in mmdet.registry."""
from .centermask import CenterMask
from .sais import SAIS

__all__: list[str] = ["CenterMask", "SAIS"]
