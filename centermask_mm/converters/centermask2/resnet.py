"""detectron2 ResNet / ResNeXt (centermask2's R-50, R-101, X-101) -> mmdet ``ResNet`` names.

detectron2 names the bottom-up ResNet ``stem.conv1`` and ``res{2..5}.{i}.conv{1,2,3}`` /
``shortcut``, each conv carrying its FrozenBN as ``.norm`` (``weight``, ``bias``,
``running_mean``, ``running_var``; no ``num_batches_tracked``, eps 1e-5 as mmcv's BN). A
deformable ``conv2`` has its offset (and modulation mask) conv beside it as
``conv2_offset``. mmdet's ``ResNet`` / ``ResNeXt`` use ``conv1``/``bn1``,
``layer{1..4}.{i}.conv{1,2,3}``/``bn{1,2,3}``, ``downsample.0``/``downsample.1`` and, with
DCN, ``conv2.conv_offset`` inside mmcv's ``DeformConv2dPack`` /
``ModulatedDeformConv2dPack`` (same offset channel layout: x-offsets, y-offsets, mask).

What the weights cannot tell: where the stride sits (detectron2 ``STRIDE_IN_1X1``; True for
the MSRA R-50/R-101 = mmdet ``style='caffe'``, False for X-101-32x8d = ``'pytorch'``). The
matching config says it; :func:`build` uses ``'caffe'`` for plain ResNets and ``'pytorch'``
for ResNeXt, which only matters for running the model, not for its keys and shapes.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from .mapping import Index, Rules, rename_backbone
from .registry import BackboneResult, ConversionError, register_backbone

#: detectron2 key template -> mmdet key template; read backwards by :func:`inverse_key`.
RULES = Rules(
    dict(stage=Index(1, src='[2-5]', dst='[1-4]'),  # detectron2 res{2..5} = mmdet layer{1..4}
         i=r'\d+', j='[123]', p='weight|bias', bn='weight|bias|running_mean|running_var'),
    [('stem.conv1.weight', 'conv1.weight'),
     ('stem.conv1.norm.{bn}', 'bn1.{bn}'),
     ('res{stage}.{i}.conv{j}.{p}', 'layer{stage}.{i}.conv{j}.{p}'),
     ('res{stage}.{i}.conv{j}.norm.{bn}', 'layer{stage}.{i}.bn{j}.{bn}'),
     ('res{stage}.{i}.shortcut.weight', 'layer{stage}.{i}.downsample.0.weight'),
     ('res{stage}.{i}.shortcut.norm.{bn}', 'layer{stage}.{i}.downsample.1.{bn}'),
     ('res{stage}.{i}.conv2_offset.{p}', 'layer{stage}.{i}.conv2.conv_offset.{p}')])
#: mmdet ResNet depth for each number of bottleneck blocks per stage.
_DEPTHS: dict[tuple[int, ...], int] = {(3, 4, 6, 3): 50, (3, 4, 23, 3): 101, (3, 8, 36, 3): 152}


def map_key(key: str) -> str | None:
    """Map one detectron2 ResNet key (``backbone.bottom_up.`` stripped) to ours, or None."""
    return RULES.new_key(key)


def inverse_key(key: str) -> str | None:
    """Map one of our ``ResNet`` keys back to its detectron2 name, or None.

    ``num_batches_tracked`` (which detectron2's FrozenBN lacks) maps to None.
    """
    return RULES.new_key(key, reverse=True)


def detect(keys: frozenset[str]) -> bool:
    """True for detectron2 ResNet bottom-up keys (a ``stem.conv1`` and ``res2`` blocks)."""
    return 'stem.conv1.weight' in keys and any(k.startswith('res2.') for k in keys)


def infer_kwargs(state_dict: Mapping[str, Tensor]) -> dict[str, Any]:
    """mmdet ``ResNet`` / ``ResNeXt`` arguments from converted (our-named) weights.

    Returns:
        dict: ``type`` ('ResNet' or 'ResNeXt'), ``depth``, for ResNeXt ``groups`` and
        ``base_width``, and ``stage_with_dcn`` / ``dcn`` when deformable convs are present.

    Raises:
        ConversionError: If the block counts or widths describe no mmdet ResNet.
    """
    blocks = []
    for layer in range(1, 5):
        ids = {int(m.group(1)) for k in state_dict
               if (m := re.match(rf'layer{layer}\.(\d+)\.', k))}
        if ids != set(range(len(ids))):
            raise ConversionError(f'ResNet layer{layer}: block indices are not 0..n-1: '
                                  f'{sorted(ids)}')
        blocks.append(len(ids))
    depth = _DEPTHS.get(tuple(blocks))
    if depth is None:
        raise ConversionError(f'the weights describe no ResNet depth: blocks per stage {blocks}')
    key = 'layer1.0.conv2.weight'
    if key not in state_dict:
        raise ConversionError(f'cannot infer the ResNet width: key {key!r} is missing')
    width, per_group = state_dict[key].shape[:2]
    groups = width // per_group
    kwargs: dict[str, Any] = dict(type='ResNet' if groups == 1 else 'ResNeXt', depth=depth)
    if groups != 1:
        kwargs.update(groups=groups, base_width=width // groups)
    elif width != 64:
        raise ConversionError(f'ResNet res2 bottleneck width {width}, expected 64')
    dcn_stages = tuple(any(k.startswith(f'layer{layer}.') and '.conv_offset.' in k
                           for k in state_dict) for layer in range(1, 5))
    if any(dcn_stages):
        offset = next(v for k, v in state_dict.items() if k.endswith('conv2.conv_offset.weight'))
        # 3 * 9 channels per deformable group with a modulation mask (DCNv2), 2 * 9 without.
        per_group_channels = 27 if offset.shape[0] % 27 == 0 else 18
        kwargs['dcn'] = dict(type='DCNv2' if per_group_channels == 27 else 'DCN',
                             deform_groups=offset.shape[0] // per_group_channels,
                             fallback_on_stride=False)
        kwargs['stage_with_dcn'] = dcn_stages
    return kwargs


def convert(source: Mapping[str, Any]) -> BackboneResult:
    """Registry entry: rename detectron2 ResNet keys and infer the mmdet arguments.

    Unknown keys are listed, not raised. A ``num_batches_tracked`` (0) is added for every
    BN, since FrozenBN has none and a strict load expects it.
    """
    result = rename_backbone(source, RULES.rename)
    if not result.unknown:
        result.info = infer_kwargs(result.state_dict)
    return result


def build(info: Mapping[str, Any]) -> nn.Module:
    """The mmdet ``ResNet`` / ``ResNeXt`` (C2-C5, frozen BN) that ``info`` describes."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    register_all_modules(init_default_scope=False)
    cfg = dict(info, num_stages=4, out_indices=(0, 1, 2, 3),
               norm_cfg=dict(type='BN', requires_grad=False),
               style='caffe' if info.get('type') == 'ResNet' else 'pytorch')
    return MODELS.build(cfg)


register_backbone('resnet', detect=detect, convert=convert, build=build)
