"""CenterMask and SAIS as MMDetection 3 plugins.

Importing this package registers every component into mmdet's registries, so
configs only need ``custom_imports = dict(imports=['centermask_mm'])``, and allow-lists
the few non-tensor objects mmengine's checkpoints pickle, so torch >= 2.6 loads them with
``weights_only=True`` (``centermask_mm.utils.register_checkpoint_safe_globals``).
``centermask_mm.apis.CenterMaskInferencer`` is ``DetInferencer`` keeping ``mask_scores``.
Known third-party warnings nobody can act on are filtered precisely
(``centermask_mm.utils.third_party_warnings``).
"""
from .utils.third_party_warnings import filter_third_party_warnings

filter_third_party_warnings()

from . import datasets, models  # noqa: E402, F401  (registration side effects)
from .utils.checkpoints import register_checkpoint_safe_globals  # noqa: E402
from .version import __version__  # noqa: E402

register_checkpoint_safe_globals()

__all__ = ["__version__"]
