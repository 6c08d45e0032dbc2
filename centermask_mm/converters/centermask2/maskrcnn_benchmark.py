"""Source scheme: the original CenterMask repository's maskrcnn-benchmark checkpoints.

youngwanLEE/CenterMask (maskrcnn-benchmark + FCOS, the code behind the paper) saves
``{'model': state_dict, 'optimizer', 'scheduler', 'iteration'}`` from a
DistributedDataParallel model, so every key starts with ``module.``. Its module tree
(``GeneralizedRCNN`` with ``backbone`` = ``Sequential(body, fpn)``, ``rpn`` = FCOS with a
``head``, ``roi_heads`` = ``{mask, maskiou}``) gives these names, renamed here to
centermask2's detectron2 names so that :mod:`.core` and the backbone families do the rest:

maskrcnn-benchmark name -> centermask2 (detectron2) name:

* ``backbone.body.stem.conv1`` / ``stem.bn1`` -> ``backbone.bottom_up.stem.conv1`` /
  ``stem.conv1.norm``; ``backbone.body.layer{k}.{i}.conv{j}`` / ``bn{j}`` ->
  ``backbone.bottom_up.res{k+1}.{i}.conv{j}`` / ``conv{j}.norm``; ``downsample.0`` / ``.1``
  -> ``shortcut`` / ``shortcut.norm``; a deformable ``conv2.offset`` / ``conv2.conv`` ->
  ``conv2_offset`` / ``conv2`` (no published model has one);
* ``backbone.body.<VoVNet or MobileNetV2 key>`` -> ``backbone.bottom_up.<same key>`` (the
  module names are centermask2's);
* ``backbone.fpn.fpn_inner{2,3,4}`` / ``fpn_layer{2,3,4}`` -> ``backbone.fpn_lateral{3,4,5}``
  / ``fpn_output{3,4,5}`` (maskrcnn-benchmark numbers the levels from C2: ``fpn_inner2``
  reads C3); ``backbone.fpn.top_blocks.p6`` / ``p7`` -> ``backbone.top_block.p6`` / ``p7``;
* ``rpn.head.{cls_tower,bbox_tower,cls_logits,bbox_pred,scales}`` ->
  ``proposal_generator.fcos_head.<same>``; ``rpn.head.centerness`` -> ``...ctrness``;
* ``roi_heads.mask.feature_extractor.{mask_fcn{i},spatialAtt.conv}`` ->
  ``roi_heads.mask_head.<same>``; ``roi_heads.mask.predictor.conv5_mask`` /
  ``mask_fcn_logits`` -> ``roi_heads.mask_head.deconv`` / ``predictor``;
* ``roi_heads.maskiou.feature_extractor.{maskiou_fcn{i},maskiou_fc1,maskiou_fc2}`` ->
  ``roi_heads.maskiou_head.<same>``; ``roi_heads.maskiou.predictor.maskiou`` ->
  ``roi_heads.maskiou_head.maskiou``.

Tensor changes: the mask predictor and the MaskIoU predictor have 81 outputs in
maskrcnn-benchmark (``ROI_BOX_HEAD.NUM_CLASSES`` counts the background as class 0, and the
foreground labels 1..80 index them directly); row 0 is dropped, leaving the 80 classes in
the same (sorted COCO id) order as centermask2 and mmdet. The FCOS classifier already has
80 outputs (``FCOS.NUM_CLASSES - 1``). The SAM conv concatenates ``[mean, max]`` in both
code bases, and ``Scale`` is shape [1] in both, so :mod:`.core` treats them as it treats
centermask2's.

Not a key matter but a numerical one: maskrcnn-benchmark's FrozenBatchNorm2d divides by
``sqrt(running_var)`` with **no eps**; the configs that mirror these models set the
backbone BN ``eps=0`` instead of changing the statistics here.
"""
from __future__ import annotations

import re

import torch
from torch import Tensor

from .registry import ConversionError, register_scheme

DDP_PREFIX = 'module.'
_BN = r'(?P<bn>weight|bias|running_mean|running_var)'
_LAYER = r'backbone\.body\.layer(?P<k>[1-4])\.(?P<i>\d+)'
_D2_BLOCK = 'backbone.bottom_up.res{s}.{i}'

# (pattern on maskrcnn-benchmark keys without 'module.', template of the detectron2 key,
# whether the tensor carries 81 classes in dim 0 and loses row 0).
_RULES: list[tuple[re.Pattern[str], str, bool]] = [
    # ResNet / ResNeXt body (maskrcnn-benchmark's own names).
    (re.compile(r'backbone\.body\.stem\.conv1\.weight'),
     'backbone.bottom_up.stem.conv1.weight', False),
    (re.compile(rf'backbone\.body\.stem\.bn1\.{_BN}'),
     'backbone.bottom_up.stem.conv1.norm.{bn}', False),
    (re.compile(rf'{_LAYER}\.conv2\.offset\.(?P<p>weight|bias)'),
     _D2_BLOCK + '.conv2_offset.{p}', False),
    (re.compile(rf'{_LAYER}\.conv2\.conv\.weight'), _D2_BLOCK + '.conv2.weight', False),
    (re.compile(rf'{_LAYER}\.conv(?P<j>[123])\.weight'), _D2_BLOCK + '.conv{j}.weight', False),
    (re.compile(rf'{_LAYER}\.bn(?P<j>[123])\.{_BN}'), _D2_BLOCK + '.conv{j}.norm.{bn}', False),
    (re.compile(rf'{_LAYER}\.downsample\.0\.weight'), _D2_BLOCK + '.shortcut.weight', False),
    (re.compile(rf'{_LAYER}\.downsample\.1\.{_BN}'), _D2_BLOCK + '.shortcut.norm.{bn}', False),
    # VoVNet (same module names as centermask2) and MobileNetV2 (same as centermask2).
    (re.compile(r'backbone\.body\.(?P<rest>(stem\.stem_|stage[2-5]\.|features\.).+)'),
     'backbone.bottom_up.{rest}', False),
    # FPN: maskrcnn-benchmark numbers the levels from C2 (fpn_inner2 reads C3).
    (re.compile(r'backbone\.fpn\.fpn_inner(?P<l>[234])\.(?P<p>weight|bias)'),
     'backbone.fpn_lateral{l1}.{p}', False),
    (re.compile(r'backbone\.fpn\.fpn_layer(?P<l>[234])\.(?P<p>weight|bias)'),
     'backbone.fpn_output{l1}.{p}', False),
    (re.compile(r'backbone\.fpn\.top_blocks\.(?P<b>p6|p7)\.(?P<p>weight|bias)'),
     'backbone.top_block.{b}.{p}', False),
    # FCOS head.
    (re.compile(r'rpn\.head\.(?P<t>cls_tower|bbox_tower)\.(?P<n>\d+)\.(?P<p>weight|bias)'),
     'proposal_generator.fcos_head.{t}.{n}.{p}', False),
    (re.compile(r'rpn\.head\.(?P<m>cls_logits|bbox_pred)\.(?P<p>weight|bias)'),
     'proposal_generator.fcos_head.{m}.{p}', False),
    (re.compile(r'rpn\.head\.centerness\.(?P<p>weight|bias)'),
     'proposal_generator.fcos_head.ctrness.{p}', False),
    (re.compile(r'rpn\.head\.scales\.(?P<l>\d)\.scale'),
     'proposal_generator.fcos_head.scales.{l}.scale', False),
    # SAG-Mask head.
    (re.compile(r'roi_heads\.mask\.feature_extractor\.mask_fcn(?P<i>\d)\.(?P<p>weight|bias)'),
     'roi_heads.mask_head.mask_fcn{i}.{p}', False),
    (re.compile(r'roi_heads\.mask\.feature_extractor\.spatialAtt\.conv\.weight'),
     'roi_heads.mask_head.spatialAtt.conv.weight', False),
    (re.compile(r'roi_heads\.mask\.predictor\.conv5_mask\.(?P<p>weight|bias)'),
     'roi_heads.mask_head.deconv.{p}', False),
    (re.compile(r'roi_heads\.mask\.predictor\.mask_fcn_logits\.(?P<p>weight|bias)'),
     'roi_heads.mask_head.predictor.{p}', True),
    # MaskIoU head.
    (re.compile(r'roi_heads\.maskiou\.feature_extractor\.maskiou_fcn(?P<i>\d)\.'
                r'(?P<p>weight|bias)'),
     'roi_heads.maskiou_head.maskiou_fcn{i}.{p}', False),
    (re.compile(r'roi_heads\.maskiou\.feature_extractor\.maskiou_fc(?P<i>[12])\.'
                r'(?P<p>weight|bias)'),
     'roi_heads.maskiou_head.maskiou_fc{i}.{p}', False),
    (re.compile(r'roi_heads\.maskiou\.predictor\.maskiou\.(?P<p>weight|bias)'),
     'roi_heads.maskiou_head.maskiou.{p}', True),
]
#: Classes including the background in maskrcnn-benchmark's COCO heads.
NUM_CLASSES_WITH_BG = 81


def rename(key: str) -> tuple[str, bool] | None:
    """Map one maskrcnn-benchmark key (``module.`` stripped) to (detectron2 key, drop row 0).

    Returns None when no rule matches.
    """
    for pattern, template, drop_background in _RULES:
        match = pattern.fullmatch(key)
        if match is None:
            continue
        groups = match.groupdict()
        if 'k' in groups:
            groups['s'] = str(int(groups['k']) + 1)
        if 'l' in groups:  # FPN level: maskrcnn-benchmark counts from C2
            groups['l1'] = str(int(groups['l']) + 1)
        return template.format(**groups), drop_background
    return None


def detect(keys: frozenset[str]) -> bool:
    """True for maskrcnn-benchmark CenterMask keys (``[module.]rpn.head.`` + ``backbone.body.``)."""
    stripped = {k[len(DDP_PREFIX):] if k.startswith(DDP_PREFIX) else k for k in keys}
    return (any(k.startswith('rpn.head.') for k in stripped)
            and any(k.startswith('backbone.body.') for k in stripped))


def _drop_background(key: str, tensor: Tensor) -> Tensor:
    if tensor.shape[0] != NUM_CLASSES_WITH_BG:
        raise ConversionError(
            f'{key}: expected {NUM_CLASSES_WITH_BG} class rows (80 COCO classes + background) '
            f'in maskrcnn-benchmark, got shape {tuple(tensor.shape)}')
    return tensor[1:].clone()


def adapt(source: dict[str, Tensor]) -> dict[str, Tensor]:
    """Rename a maskrcnn-benchmark CenterMask state dict to centermask2 names.

    Keys no rule matches are returned unchanged (``module.`` stripped), so that the core
    reports them as unknown by name.

    Raises:
        ConversionError: If two keys map to one name or a class-indexed tensor has not 81
            rows.
    """
    out: dict[str, Tensor] = {}
    for key, tensor in source.items():
        bare = key[len(DDP_PREFIX):] if key.startswith(DDP_PREFIX) else key
        renamed = rename(bare)
        new_key, drop = renamed if renamed is not None else (bare, False)
        if new_key in out:
            raise ConversionError(f'two source keys map to {new_key!r}; the second is {key!r}')
        out[new_key] = _drop_background(key, tensor) if drop else tensor
    return out


def inverse(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """centermask2-named state dict -> maskrcnn-benchmark names (``module.`` prefixed).

    For tests: builds the checkpoint a maskrcnn-benchmark run would have saved from the
    weights of a centermask2-named one, with a background row (zeros) added to the two
    class-indexed predictors.

    Raises:
        ConversionError: If a key has no maskrcnn-benchmark name.
    """
    inverse_rules = _inverse_rules()
    out: dict[str, Tensor] = {}
    for key, tensor in state.items():
        for pattern, template, add_background in inverse_rules:
            match = pattern.fullmatch(key)
            if match is None:
                continue
            groups = match.groupdict()
            if 's' in groups:
                groups['k'] = str(int(groups['s']) - 1)
            if 'l1' in groups:
                groups['l'] = str(int(groups['l1']) - 1)
            if add_background:
                tensor = torch.cat([tensor.new_zeros((1, *tensor.shape[1:])), tensor])
            out[DDP_PREFIX + template.format(**groups)] = tensor
            break
        else:
            raise ConversionError(f'{key}: no maskrcnn-benchmark name')
    return out


def _inverse_rules() -> list[tuple[re.Pattern[str], str, bool]]:
    _s = r'(?P<s>[2-5])\.(?P<i>\d+)'
    _b = 'backbone.body.layer{k}.{i}'
    return [
        (re.compile(r'backbone\.bottom_up\.stem\.conv1\.weight'),
         'backbone.body.stem.conv1.weight', False),
        (re.compile(rf'backbone\.bottom_up\.stem\.conv1\.norm\.{_BN}'),
         'backbone.body.stem.bn1.{bn}', False),
        (re.compile(rf'backbone\.bottom_up\.res{_s}\.conv2_offset\.(?P<p>weight|bias)'),
         _b + '.conv2.offset.{p}', False),
        (re.compile(rf'backbone\.bottom_up\.res{_s}\.conv(?P<j>[123])\.weight'),
         _b + '.conv{j}.weight', False),
        (re.compile(rf'backbone\.bottom_up\.res{_s}\.conv(?P<j>[123])\.norm\.{_BN}'),
         _b + '.bn{j}.{bn}', False),
        (re.compile(rf'backbone\.bottom_up\.res{_s}\.shortcut\.weight'),
         _b + '.downsample.0.weight', False),
        (re.compile(rf'backbone\.bottom_up\.res{_s}\.shortcut\.norm\.{_BN}'),
         _b + '.downsample.1.{bn}', False),
        (re.compile(r'backbone\.bottom_up\.(?P<rest>.+)'), 'backbone.body.{rest}', False),
        (re.compile(r'backbone\.fpn_lateral(?P<l1>[345])\.(?P<p>weight|bias)'),
         'backbone.fpn.fpn_inner{l}.{p}', False),
        (re.compile(r'backbone\.fpn_output(?P<l1>[345])\.(?P<p>weight|bias)'),
         'backbone.fpn.fpn_layer{l}.{p}', False),
        (re.compile(r'backbone\.top_block\.(?P<b>p6|p7)\.(?P<p>weight|bias)'),
         'backbone.fpn.top_blocks.{b}.{p}', False),
        (re.compile(r'proposal_generator\.fcos_head\.ctrness\.(?P<p>weight|bias)'),
         'rpn.head.centerness.{p}', False),
        (re.compile(r'proposal_generator\.fcos_head\.(?P<rest>.+)'), 'rpn.head.{rest}', False),
        (re.compile(r'roi_heads\.mask_head\.(?P<m>mask_fcn\d|spatialAtt\.conv)\.(?P<p>\w+)'),
         'roi_heads.mask.feature_extractor.{m}.{p}', False),
        (re.compile(r'roi_heads\.mask_head\.deconv\.(?P<p>weight|bias)'),
         'roi_heads.mask.predictor.conv5_mask.{p}', False),
        (re.compile(r'roi_heads\.mask_head\.predictor\.(?P<p>weight|bias)'),
         'roi_heads.mask.predictor.mask_fcn_logits.{p}', True),
        (re.compile(r'roi_heads\.maskiou_head\.(?P<m>maskiou_fcn\d|maskiou_fc[12])\.'
                    r'(?P<p>weight|bias)'),
         'roi_heads.maskiou.feature_extractor.{m}.{p}', False),
        (re.compile(r'roi_heads\.maskiou_head\.maskiou\.(?P<p>weight|bias)'),
         'roi_heads.maskiou.predictor.maskiou.{p}', True),
    ]


register_scheme('maskrcnn_benchmark', detect=detect, adapt=adapt)
