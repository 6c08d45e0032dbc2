"""Convert centermask2 (detectron2) checkpoints, whole models or backbones, for this project.

``python -m centermask_mm.converters.centermask2 SRC DST [--config CFG]``; see
:mod:`.core` for the head mapping, :mod:`.mapping` for the key-table engine every mapping
uses and :mod:`.registry` for the backbone-family and source-scheme plug-ins (VoVNet in
:mod:`.vovnet`).
"""
# Importing the plug-ins registers them: one source scheme, three backbone families.
from . import maskrcnn_benchmark, mobilenet, resnet, vovnet  # noqa: F401
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
