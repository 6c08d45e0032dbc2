"""CenterMask and SAIS as MMDetection 3 plugins.

Importing this package registers every component into mmdet's registries, so
configs only need ``custom_imports = dict(imports=['centermask_mm'])``.
"""
from . import datasets, models  # noqa: F401  (registration side effects)
from .version import __version__

__all__ = ["__version__"]
