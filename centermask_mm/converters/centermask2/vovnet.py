"""VoVNet family of the centermask2 converter: vovnet-detectron2 names -> :class:`VoVNet`.

Accepted keys: those of the detectron2 ImageNet backbone files (``vovnet39_ese_detectron2.pth``
and friends, e.g. ``stage2.OSA2_1.layers.0.OSA2_1_0/conv.weight``) and the bottom-up part of
centermask2 / vovnet-detectron2 detector checkpoints (prefix ``backbone.bottom_up.``; with the
prefix present, the other keys are skipped and counted). The architecture (arch, eSE, DCN
stages) is inferred from the weights.

Use it through ``python -m centermask_mm.converters.centermask2`` (``--backbone-only`` for an
ImageNet backbone file); this module registers the ``vovnet`` family.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from .mapping import Index, Names, Rules, rename_backbone
from .registry import BackboneResult, ConversionError, register_backbone

DETECTRON2_PREFIX = 'backbone.bottom_up.'

#: detectron2 key template -> ours. ``part``: the detectron2 unit part -> our sub-module
#: inside the unit (an mmcv ConvModule or DepthwiseSeparableConvModule); FrozenBN ("norm")
#: becomes ConvModule's "bn" and the DCN offset/mask conv lives inside our DCN conv.
RULES = Rules(
    dict(u=Index(1, src='[123]'), s='[2-5]', b=r'\d+', l=r'\d+',
         part=Names({'conv': 'conv', 'norm': 'bn', 'dw_conv3x3': 'depthwise_conv.conv',
                     'pw_conv1x1': 'pointwise_conv.conv', 'pw_norm': 'pointwise_conv.bn',
                     'conv_offset': 'conv.conv_offset'}),
         param='weight|bias|running_mean|running_var|num_batches_tracked', wb='weight|bias'),
    [('stem.stem_{u}/{part}.{param}', 'stem.{u}.{part}.{param}'),
     ('stage{s}.OSA{s}_{b}.layers.{l}.OSA{s}_{b}_{l}/{part}.{param}',
      'stage{s}.osa{b}.layers.{l}.{part}.{param}'),
     ('stage{s}.OSA{s}_{b}.conv_reduction.OSA{s}_{b}_reduction_0/{part}.{param}',
      'stage{s}.osa{b}.reduction.{part}.{param}'),
     ('stage{s}.OSA{s}_{b}.concat.OSA{s}_{b}_concat/{part}.{param}',
      'stage{s}.osa{b}.concat.{part}.{param}'),
     ('stage{s}.OSA{s}_{b}.ese.fc.{wb}', 'stage{s}.osa{b}.attn.fc.{wb}')])


#: Result of :func:`convert_state_dict` (the registry's backbone result).
ConversionResult = BackboneResult


def map_key(key: str) -> str | None:
    """Map one detectron2 backbone key (prefix already stripped) to ours, or None."""
    return RULES.new_key(key)


def convert_state_dict(source: Mapping[str, Any]) -> ConversionResult:
    """Rename a detectron2 VoVNet state dict to :class:`VoVNet` names.

    Args:
        source: detectron2 tensors (torch or numpy), either backbone-only keys or a
            whole detector's keys with the ``backbone.bottom_up.`` prefix.

    Returns:
        ConversionResult: Converted state dict plus unknown and skipped keys. A
        ``num_batches_tracked`` (0) is added for every BN, since detectron2's FrozenBN
        has none and ``load_state_dict(strict=True)`` expects it.
    """
    if not any(k.startswith(DETECTRON2_PREFIX) for k in source):
        return rename_backbone(source, RULES.rename)
    result = rename_backbone({k.removeprefix(DETECTRON2_PREFIX): v for k, v in source.items()
                              if k.startswith(DETECTRON2_PREFIX)}, RULES.rename)
    result.skipped = [k for k in source if not k.startswith(DETECTRON2_PREFIX)]
    return result


def infer_backbone_kwargs(state_dict: Mapping[str, Tensor]) -> dict[str, Any]:
    """Infer ``VoVNet`` arguments (arch, attention, stage_with_dcn) from converted keys.

    Raises:
        ConversionError: If the structure matches no entry of ``VoVNet.arch_settings``.
    """
    from centermask_mm.models.backbones.vovnet import VoVNet

    def weight(key: str) -> Tensor:
        if key not in state_dict:
            raise ConversionError(f'cannot infer the VoVNet arch: key {key!r} is missing')
        return state_dict[key]

    depthwise = 'stem.1.depthwise_conv.conv.weight' in state_dict
    stem_last = 'stem.2.pointwise_conv.conv.weight' if depthwise else 'stem.2.conv.weight'
    blocks, mids, outs = [], [], []
    for s in range(2, 6):
        blocks.append(len({int(m.group(1)) for k in state_dict
                           if (m := re.match(rf'stage{s}\.osa(\d+)\.', k))}))
        layer0 = (f'stage{s}.osa1.layers.0.pointwise_conv.conv.weight' if depthwise
                  else f'stage{s}.osa1.layers.0.conv.weight')
        mids.append(weight(layer0).shape[0])
        outs.append(weight(f'stage{s}.osa1.concat.conv.weight').shape[0])
    layers = len({k.split('.')[3] for k in state_dict if k.startswith('stage2.osa1.layers.')})
    found = dict(
        stem_channels=(weight('stem.0.conv.weight').shape[0],
                       weight(stem_last.replace('stem.2', 'stem.1')).shape[0],
                       weight(stem_last).shape[0]),
        stage_mid_channels=tuple(mids),
        stage_out_channels=tuple(outs),
        layers_per_block=layers,
        blocks_per_stage=tuple(blocks),
        depthwise=depthwise)
    arch = next((name for name, setting in VoVNet.arch_settings.items() if setting == found),
                None)
    if arch is None:
        raise ConversionError(f'the weights describe no known VoVNet arch: {found}')
    attention = 'ese' if any('.attn.fc.' in k for k in state_dict) else None
    stage_with_dcn = tuple(
        any(k.startswith(f'stage{s}.') and '.conv_offset.' in k for k in state_dict)
        for s in range(2, 6))
    return dict(arch=arch, attention=attention, stage_with_dcn=stage_with_dcn)


def detect(keys: frozenset[str]) -> bool:
    """True for vovnet-detectron2 keys (``stem.stem_1/...``; the '/' is VoVNet's naming)."""
    return any(k.startswith('stem.stem_1/') for k in keys)


def convert(source: Mapping[str, Any]) -> BackboneResult:
    """Registry entry: rename and infer ``VoVNet`` kwargs (``info``).

    With unknown keys, a failed arch inference is left to the caller's error that names
    the keys.
    """
    result = convert_state_dict(source)
    try:
        result.info = infer_backbone_kwargs(result.state_dict)
    except ConversionError:
        if not result.unknown:
            raise
    return result


def build(info: Mapping[str, Any]) -> nn.Module:
    """The :class:`VoVNet` that ``info`` (from :func:`infer_backbone_kwargs`) describes."""
    from centermask_mm.models.backbones.vovnet import VoVNet
    return VoVNet(**info)


register_backbone('vovnet', detect=detect, convert=convert, build=build)
