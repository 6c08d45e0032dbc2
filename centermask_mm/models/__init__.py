"""Models: importing this package registers every component in mmdet's registries."""
from . import backbones, dense_heads, detectors, necks, roi_heads, task_modules  # noqa: F401
