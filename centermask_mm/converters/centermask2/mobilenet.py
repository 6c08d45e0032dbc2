"""centermask2's MobileNetV2 (CenterMask-Lite M-v2) -> :class:`TruncatedMobileNetV2` names.

centermask2 (``centermask/modeling/backbone/mobilenet.py``, after tonylins'
pytorch-mobilenet-v2) keeps the network in one ``features`` list: ``features.0`` is the
stem (``.0`` a 3x3 stride-2 conv 3 -> 32, ``.1`` its FrozenBN, ReLU6), ``features.1`` ...
``features.17`` are the 17 inverted-residual blocks of the standard (t, c, n, s) table
(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
(6, 320, 1, 1). Each block is ``features.k.conv``, an ``nn.Sequential``:

* expansion 1 (``features.1``): ``0`` depthwise 3x3, ``1`` BN, ``2`` ReLU6, ``3`` pointwise
  linear 1x1, ``4`` BN;
* expansion 6 (all others): ``0`` pointwise 1x1 expand, ``1`` BN, ``2`` ReLU6, ``3``
  depthwise 3x3, ``4`` BN, ``5`` ReLU6, ``6`` pointwise linear 1x1, ``7`` BN.

All convs are bias-free; the BNs are detectron2 FrozenBN (``weight``, ``bias``,
``running_mean``, ``running_var``, eps 1e-5). The detector reads ``features.6``,
``features.13`` and ``features.17`` (res3-5: 32, 96 and 320 channels), which are the last
blocks of mmdet's ``layer3``, ``layer5`` and ``layer7`` (``out_indices=(2, 4, 6)``). The
ImageNet file may also hold the final 1x1 conv 320 -> 1280 (``features.18``, mmdet's
``conv2``) and the ``classifier``; the detector checkpoints do not.

mmdet names: ``conv1.{conv,bn}`` for the stem and ``layer{n}.{i}.{expand_conv,
depthwise_conv,linear_conv}.{conv,bn}`` (mmdet's ``InvertedResidual`` has no
``expand_conv`` when the expansion is 1, as here).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from itertools import accumulate
from typing import Any

from torch import nn

from .mapping import Renamed, rename_backbone
from .registry import BackboneResult, ConversionError, register_backbone

#: Inverted-residual blocks per mmdet layer (the ``n`` column of the table above).
BLOCKS_PER_LAYER = (1, 2, 3, 4, 3, 3, 1)
_FIRST = [0, *accumulate(BLOCKS_PER_LAYER)]  # features index - 1 of each layer's first block
NUM_BLOCKS = _FIRST[-1]  # 17
_BN = r'(?P<bn>weight|bias|running_mean|running_var)'
# Position in a block's ``conv`` Sequential -> (our ConvModule, conv or bn), per expansion.
_EXPANDED = {0: ('expand_conv', 'conv'), 1: ('expand_conv', 'bn'),
             3: ('depthwise_conv', 'conv'), 4: ('depthwise_conv', 'bn'),
             6: ('linear_conv', 'conv'), 7: ('linear_conv', 'bn')}
_NOT_EXPANDED = {0: ('depthwise_conv', 'conv'), 1: ('depthwise_conv', 'bn'),
                 3: ('linear_conv', 'conv'), 4: ('linear_conv', 'bn')}
_BLOCK_KEY = re.compile(r'features\.(?P<k>\d+)\.conv\.(?P<j>\d+)\.(?P<p>\w+)')
_END_KEY = re.compile(r'features\.(?P<k>0|18)\.(?P<j>[01])\.(?P<p>\w+)')
_OUR_BLOCK = re.compile(
    r'layer(?P<n>[1-7])\.(?P<i>\d+)\.(?P<m>expand_conv|depthwise_conv|linear_conv)'
    r'\.(?P<c>conv|bn)\.(?P<p>\w+)')
_OUR_END = re.compile(r'(?P<m>conv1|conv2)\.(?P<c>conv|bn)\.(?P<p>\w+)')


def _layer_block(k: int) -> tuple[int, int]:
    """features index k (1..17) -> (mmdet layer 1..7, block index in it)."""
    for n in range(len(BLOCKS_PER_LAYER)):
        if _FIRST[n] < k <= _FIRST[n + 1]:
            return n + 1, k - 1 - _FIRST[n]
    raise KeyError(k)


def _param_ok(part: str, param: str) -> bool:
    return param == 'weight' if part == 'conv' else param in (
        'weight', 'bias', 'running_mean', 'running_var')


def map_key(key: str, expanded: bool) -> str | None:
    """Map one centermask2 MobileNetV2 key to ours, or None.

    Args:
        key: Bottom-up key (``backbone.bottom_up.`` stripped).
        expanded: Whether the key's block has an expansion conv (``conv.6`` exists); it
            decides what ``conv.0`` ... ``conv.4`` are.
    """
    match = _END_KEY.fullmatch(key)
    if match is not None:
        part = 'conv' if match['j'] == '0' else 'bn'
        module = 'conv1' if match['k'] == '0' else 'conv2'
        return f"{module}.{part}.{match['p']}" if _param_ok(part, match['p']) else None
    match = _BLOCK_KEY.fullmatch(key)
    if match is None or not 1 <= int(match['k']) <= NUM_BLOCKS:
        return None
    slot = (_EXPANDED if expanded else _NOT_EXPANDED).get(int(match['j']))
    if slot is None or not _param_ok(slot[1], match['p']):
        return None
    n, i = _layer_block(int(match['k']))
    return f"layer{n}.{i}.{slot[0]}.{slot[1]}.{match['p']}"


def inverse_key(key: str) -> str | None:
    """Map one of our ``TruncatedMobileNetV2`` keys to its centermask2 name, or None.

    ``num_batches_tracked`` (which detectron2's FrozenBN lacks) maps to None.
    """
    if key.endswith('num_batches_tracked'):
        return None
    match = _OUR_END.fullmatch(key)
    if match is not None:
        k = 0 if match['m'] == 'conv1' else 18
        return f"features.{k}.{0 if match['c'] == 'conv' else 1}.{match['p']}"
    match = _OUR_BLOCK.fullmatch(key)
    if match is None:
        return None
    n, i = int(match['n']), int(match['i'])
    k = _FIRST[n - 1] + i + 1
    table = _NOT_EXPANDED if n == 1 else _EXPANDED
    j = next(j for j, slot in table.items() if slot == (match['m'], match['c']))
    return f"features.{k}.conv.{j}.{match['p']}"


def detect(keys: frozenset[str]) -> bool:
    """True for centermask2 MobileNetV2 keys (``features.0.0.weight`` and ``features.k.conv``)."""
    return 'features.0.0.weight' in keys and any(_BLOCK_KEY.fullmatch(k) for k in keys)


def convert(source: Mapping[str, Any]) -> BackboneResult:
    """Registry entry: rename centermask2 MobileNetV2 keys to ``TruncatedMobileNetV2``'s.

    ``classifier.*`` (ImageNet files only) is skipped. Unknown keys are listed, not
    raised. ``num_batches_tracked`` (0) is added for every BN. ``info`` gives
    ``out_indices`` (2, 4, 6) and whether the final 1x1 conv (``features.18``) is present.
    """
    expanded = {int(m['k']) for k in source if (m := _BLOCK_KEY.fullmatch(k)) and m['j'] == '6'}

    def rename(key: str) -> Renamed | None:
        block = _BLOCK_KEY.fullmatch(key)
        ours = map_key(key, expanded=block is not None and int(block['k']) in expanded)
        return None if ours is None else Renamed(ours)

    result = rename_backbone({k: v for k, v in source.items() if not k.startswith('classifier.')},
                             rename)
    result.skipped = [k for k in source if k.startswith('classifier.')]
    # Only the first block has no expansion conv, as in mmdet's MobileNetV2.
    wrong = sorted(k for k in expanded if k == 1) + sorted(
        k for k in range(2, NUM_BLOCKS + 1)
        if any(key.startswith(f'features.{k}.conv.') for key in source) and k not in expanded)
    if wrong:
        raise ConversionError(
            f'MobileNetV2 blocks {wrong} have the wrong expansion layout for mmdet\'s '
            'MobileNetV2 (only features.1 has expansion 1)')
    result.info = dict(type='TruncatedMobileNetV2',
                       out_indices=(2, 4, 6) if 'conv2.conv.weight' not in result.state_dict
                       else (2, 4, 6, 7))
    return result


def build(info: Mapping[str, Any]) -> nn.Module:
    """The ``TruncatedMobileNetV2`` (frozen BN) that ``info`` describes."""
    from centermask_mm.models.backbones.truncated_mobilenet_v2 import TruncatedMobileNetV2

    return TruncatedMobileNetV2(out_indices=tuple(info.get('out_indices', (2, 4, 6))),
                                norm_cfg=dict(type='BN', requires_grad=False))


register_backbone('mobilenetv2', detect=detect, convert=convert, build=build)
