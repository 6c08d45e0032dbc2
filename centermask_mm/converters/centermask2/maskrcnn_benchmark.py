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

import torch
from torch import Tensor

from .mapping import Index, Renamed, Rule, Rules, rename_state
from .registry import ConversionError, register_scheme

DDP_PREFIX = 'module.'
#: Classes including the background in maskrcnn-benchmark's COCO heads.
NUM_CLASSES_WITH_BG = 81


def _drop_background(key: str, tensor: Tensor) -> Tensor:
    if tensor.shape[0] != NUM_CLASSES_WITH_BG:
        raise ConversionError(
            f'{key}: expected {NUM_CLASSES_WITH_BG} class rows (80 COCO classes + background) '
            f'in maskrcnn-benchmark, got shape {tuple(tensor.shape)}')
    return tensor[1:].clone()


def _add_background(key: str, tensor: Tensor) -> Tensor:
    return torch.cat([tensor.new_zeros((1, *tensor.shape[1:])), tensor])


# Module prefixes: maskrcnn-benchmark's (left) and centermask2's (right).
_BODY, _BOTTOM_UP = 'backbone.body.', 'backbone.bottom_up.'
_LAYER, _RES = _BODY + 'layer{stage}.{i}', _BOTTOM_UP + 'res{stage}.{i}'
_FCOS, _D2_FCOS = 'rpn.head.', 'proposal_generator.fcos_head.'
_MASK, _D2_MASK = 'roi_heads.mask.', 'roi_heads.mask_head.'
_IOU, _D2_IOU = 'roi_heads.maskiou.', 'roi_heads.maskiou_head.'
#: maskrcnn-benchmark key template (without 'module.') -> detectron2 key template; the two
#: class-indexed predictors lose row 0 (the background) on the way, and get it back (zeros)
#: on the way back (:func:`inverse`).
RULES = Rules(
    dict(stage=Index(-1, src='[1-4]', dst='[2-5]'),  # maskrcnn-benchmark layer{k} = res{k+1}
         # FPN: maskrcnn-benchmark numbers the levels from C2 (fpn_inner2 reads C3).
         level=Index(-1, src='[234]', dst='[345]'),
         i=r'\d+', j='[123]', d=r'\d', fc='[12]', n=r'\d+', p='weight|bias',
         bn='weight|bias|running_mean|running_var', top='p6|p7',
         tower='cls_tower|bbox_tower', logits='cls_logits|bbox_pred',
         # VoVNet and MobileNetV2 bodies have centermask2's module names.
         same=r'(?:stem\.stem_|stage[2-5]\.|features\.).+'),
    [(_BODY + 'stem.conv1.weight', _BOTTOM_UP + 'stem.conv1.weight'),
     (_BODY + 'stem.bn1.{bn}', _BOTTOM_UP + 'stem.conv1.norm.{bn}'),
     (_LAYER + '.conv2.offset.{p}', _RES + '.conv2_offset.{p}'),
     Rule(_LAYER + '.conv2.conv.weight', _RES + '.conv2.weight', reversible=False),
     (_LAYER + '.conv{j}.weight', _RES + '.conv{j}.weight'),
     (_LAYER + '.bn{j}.{bn}', _RES + '.conv{j}.norm.{bn}'),
     (_LAYER + '.downsample.0.weight', _RES + '.shortcut.weight'),
     (_LAYER + '.downsample.1.{bn}', _RES + '.shortcut.norm.{bn}'),
     (_BODY + '{same}', _BOTTOM_UP + '{same}'),
     ('backbone.fpn.fpn_inner{level}.{p}', 'backbone.fpn_lateral{level}.{p}'),
     ('backbone.fpn.fpn_layer{level}.{p}', 'backbone.fpn_output{level}.{p}'),
     ('backbone.fpn.top_blocks.{top}.{p}', 'backbone.top_block.{top}.{p}'),
     (_FCOS + '{tower}.{n}.{p}', _D2_FCOS + '{tower}.{n}.{p}'),
     (_FCOS + '{logits}.{p}', _D2_FCOS + '{logits}.{p}'),
     (_FCOS + 'centerness.{p}', _D2_FCOS + 'ctrness.{p}'),
     (_FCOS + 'scales.{d}.scale', _D2_FCOS + 'scales.{d}.scale'),
     (_MASK + 'feature_extractor.mask_fcn{d}.{p}', _D2_MASK + 'mask_fcn{d}.{p}'),
     (_MASK + 'feature_extractor.spatialAtt.conv.weight', _D2_MASK + 'spatialAtt.conv.weight'),
     (_MASK + 'predictor.conv5_mask.{p}', _D2_MASK + 'deconv.{p}'),
     Rule(_MASK + 'predictor.mask_fcn_logits.{p}', _D2_MASK + 'predictor.{p}',
          _drop_background, _add_background),
     (_IOU + 'feature_extractor.maskiou_fcn{d}.{p}', _D2_IOU + 'maskiou_fcn{d}.{p}'),
     (_IOU + 'feature_extractor.maskiou_fc{fc}.{p}', _D2_IOU + 'maskiou_fc{fc}.{p}'),
     Rule(_IOU + 'predictor.maskiou.{p}', _D2_IOU + 'maskiou.{p}',
          _drop_background, _add_background)])


def detect(keys: frozenset[str]) -> bool:
    """True for maskrcnn-benchmark CenterMask keys (``[module.]rpn.head.`` + ``backbone.body.``)."""
    stripped = {k.removeprefix(DDP_PREFIX) for k in keys}
    return (any(k.startswith('rpn.head.') for k in stripped)
            and any(k.startswith('backbone.body.') for k in stripped))


def _keep(value: Tensor, key: str) -> Tensor:
    """Tensors pass as they are (the core converts them after the renaming)."""
    return value


def adapt(source: dict[str, Tensor]) -> dict[str, Tensor]:
    """Rename a maskrcnn-benchmark CenterMask state dict to centermask2 names.

    Keys no rule matches are returned unchanged (``module.`` stripped), so that the core
    reports them as unknown by name.

    Raises:
        ConversionError: If two keys map to one name or a class-indexed tensor has not 81
            rows.
    """
    def rename(key: str) -> Renamed:
        bare = key.removeprefix(DDP_PREFIX)
        return RULES.rename(bare) or Renamed(bare)

    out: dict[str, Tensor] = {}
    rename_state(source, rename, out, {}, tensor=_keep)
    return out


def inverse(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """centermask2-named state dict -> maskrcnn-benchmark names (``module.`` prefixed).

    For tests: builds the checkpoint a maskrcnn-benchmark run would have saved from the
    weights of a centermask2-named one, with a background row (zeros) added to the two
    class-indexed predictors.

    Raises:
        ConversionError: If a key has no maskrcnn-benchmark name (one :func:`adapt` would
            not rename back).
    """
    def rename(key: str) -> Renamed | None:
        renamed = RULES.rename(key, reverse=True)
        return renamed and renamed._replace(key=DDP_PREFIX + renamed.key)

    out: dict[str, Tensor] = {}
    unknown = rename_state(state, rename, out, {}, tensor=_keep)
    if unknown:
        raise ConversionError(f'{unknown[0]}: no maskrcnn-benchmark name')
    return out


register_scheme('maskrcnn_benchmark', detect=detect, adapt=adapt)
