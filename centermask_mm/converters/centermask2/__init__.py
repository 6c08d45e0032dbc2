"""Convert centermask2 (detectron2) checkpoints, whole models or backbones, for this project.

``python -m centermask_mm.converters.centermask2 SRC DST [--config CFG]``; see
:mod:`.core` for the head mapping and :mod:`.registry` for the backbone-family and
source-scheme plug-ins (VoVNet in :mod:`.vovnet`).
"""
from . import maskrcnn_benchmark  # noqa: F401  (registers the source scheme)
from . import mobilenet  # noqa: F401  (registers the backbone family)
from . import resnet  # noqa: F401  (registers the backbone family)
from . import vovnet  # noqa: F401  (registers the backbone family)
from .core import (
                   Conversion,
                   check_against_model,
                   convert_checkpoint,
                   convert_file,
                   load_source,
                   read_checkpoint,
)
from .registry import BACKBONES, SCHEMES, BackboneResult, ConversionError

__all__ = ['BACKBONES', 'SCHEMES', 'BackboneResult', 'Conversion', 'ConversionError',
           'check_against_model', 'convert_checkpoint', 'convert_file', 'load_source',
           'read_checkpoint']
