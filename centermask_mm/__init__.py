"""CenterMask and SAIS as MMDetection 3 plugins.

Importing this package registers every component into mmdet's registries, so
configs only need ``custom_imports = dict(imports=['centermask_mm'])``.
"""
from .version import __version__
from . import datasets, models  # noqa: F401  (registration side effects)

__all__ = ["__version__"]
