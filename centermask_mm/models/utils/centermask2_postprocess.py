"""centermask2's inference post-processing (``model.test_cfg.postprocess='centermask2'``).

The published CenterMask numbers were made by centermask2, whose inference differs from
mmdet's FCOS post-processing (``'mmdet'``) in five ways, all reproduced here:

1. the box score is ``sqrt(sigmoid(cls) * sigmoid(ctr))``, not their product;
2. the score threshold (``test_cfg.fcos.score_thr``) applies to ``sigmoid(cls)`` alone,
   before the centerness is multiplied in;
3. the per-level pre-NMS top-k (``nms_pre``) ranks candidates by ``cls * ctr``;
4. boxes stay unclipped through NMS, Eq. 2, RoIAlign, the mask head and MaskIoU; they are
   clipped at the very end, and the 28x28 mask predicted for the unclipped box is pasted
   into the clipped box;
5. boxes that are empty after clipping are dropped after the top-``max_per_img`` cut, so
   fewer than ``max_per_img`` instances may be returned.

Also as centermask2: the top-``max_per_img`` cut keeps every detection scoring at least the
``max_per_img``-th best (``kthvalue``), so ties can keep more.

Class-aware NMS is mmcv's via mmdet's ``batched_nms`` (coordinate-offset trick, as
torchvision uses for up to 1000 boxes on CPU and always on GPU); masks are pasted with
mmdet's ``_do_paste_mask`` (the same grid-sampling paste detectron2 uses; cropped to the box
on CPU, whole image on GPU, as both libraries do) and thresholded ``>= mask_thr_binary``.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from mmcv.ops import batched_nms
from mmdet.models.roi_heads.mask_heads.fcn_mask_head import (
    BYTES_PER_FLOAT,
    GPU_MEM_LIMIT,
    _do_paste_mask,
)
from mmdet.structures.bbox import distance2bbox
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor

#: Values of ``model.test_cfg.postprocess``.
POSTPROCESS_MODES: tuple[str, ...] = ('mmdet', 'centermask2')


def check_postprocess_mode(mode: str) -> str:
    """Return ``mode`` if it is a known post-processing mode.

    Raises:
        ValueError: Naming ``model.test_cfg.postprocess`` and the accepted values.
    """
    if mode not in POSTPROCESS_MODES:
        raise ValueError(f'model.test_cfg.postprocess must be one of {POSTPROCESS_MODES}, '
                         f'got {mode!r}')
    return mode


def fcos_detections(cls_scores: Sequence[Tensor], bbox_preds: Sequence[Tensor],
                    centernesses: Sequence[Tensor], points: Sequence[Tensor],
                    cfg: ConfigDict | dict) -> InstanceData:
    """centermask2's FCOS detections of one image (items 1-3 and the top-k cut).

    Args:
        cls_scores: Per level (C, H_l, W_l) class logits.
        bbox_preds: Per level (4, H_l, W_l) distances (l, t, r, b) in input pixels (mmdet's
            ``FCOSHead`` in eval mode has already multiplied them by the stride).
        centernesses: Per level (1, H_l, W_l) centerness logits.
        points: Per level (H_l * W_l, 2) location centres (x, y), row-major as the maps.
        cfg: ``test_cfg.fcos``: ``score_thr``, ``nms_pre`` (per level), ``nms``
            (``iou_threshold``), ``max_per_img``.

    Returns:
        InstanceData: ``bboxes`` (n, 4) **unclipped**, in input pixels; ``scores`` (n,)
        ``sqrt(cls * ctr)``, decreasing; ``labels`` (n,). n <= max_per_img except for ties.
    """
    score_thr = float(cfg.get('score_thr', 0.05))
    nms_pre = int(cfg.get('nms_pre', 1000))
    max_per_img = int(cfg.get('max_per_img', 100))
    mlvl_boxes, mlvl_scores, mlvl_labels = [], [], []
    for cls, reg, ctr, pts in zip(cls_scores, bbox_preds, centernesses, points, strict=True):
        num_classes = cls.shape[0]
        cls = cls.permute(1, 2, 0).reshape(-1, num_classes).sigmoid()
        reg = reg.permute(1, 2, 0).reshape(-1, 4)
        ctr = ctr.permute(1, 2, 0).reshape(-1).sigmoid()
        candidates = cls > score_thr  # threshold on cls alone (THRESH_WITH_CTR False)
        scores = cls * ctr[:, None]
        loc_cls = candidates.nonzero()  # (k, 2) location-major, as detectron2
        scores = scores[loc_cls[:, 0], loc_cls[:, 1]]
        if nms_pre > 0 and scores.numel() > nms_pre:
            scores, top = scores.topk(nms_pre, sorted=False)  # ranked by cls * ctr
            loc_cls = loc_cls[top]
        mlvl_boxes.append(distance2bbox(pts[loc_cls[:, 0]], reg[loc_cls[:, 0]]))
        mlvl_scores.append(scores)
        mlvl_labels.append(loc_cls[:, 1])
    boxes = torch.cat(mlvl_boxes)
    scores = torch.cat(mlvl_scores).sqrt()
    labels = torch.cat(mlvl_labels)
    if boxes.numel() > 0:
        nms_cfg = dict(cfg.get('nms', dict(type='nms', iou_threshold=0.6)))
        nms_cfg.pop('max_num', None)
        _, keep = batched_nms(boxes, scores, labels, nms_cfg)  # sorted by score
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        n = scores.numel()
        if 0 < max_per_img < n:
            # centermask2 keeps scores >= the max_per_img-th largest (ties kept).
            kth = scores.kthvalue(n - max_per_img + 1).values
            keep = scores >= kth
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    return InstanceData(bboxes=boxes, scores=scores, labels=labels)


def clip_boxes(boxes: Tensor, height: int, width: int) -> Tensor:
    """Boxes (n, 4) clamped to ``[0, width] x [0, height]`` (a new tensor)."""
    clipped = boxes.clone()
    clipped[:, 0::2] = clipped[:, 0::2].clamp(min=0, max=width)
    clipped[:, 1::2] = clipped[:, 1::2].clamp(min=0, max=height)
    return clipped


def nonempty(boxes: Tensor) -> Tensor:
    """(n,) bool: positive width and height."""
    return (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])


def paste_masks(mask_probs: Tensor, boxes: Tensor, height: int, width: int,
                threshold: float = 0.5) -> Tensor:
    """Paste 28x28 mask probabilities into an image, one mask per box.

    Args:
        mask_probs: (n, M, M) probabilities.
        boxes: (n, 4) boxes in image pixels (the clipped boxes in centermask2 mode).
        height, width: Output image size.
        threshold: Binarisation threshold (``>=``).

    Returns:
        Tensor: (n, height, width) bool.
    """
    n = mask_probs.shape[0]
    device = mask_probs.device
    masks = torch.zeros(n, height, width, dtype=torch.bool, device=device)
    if n == 0:
        return masks
    cpu = device.type == 'cpu'
    # One box at a time on CPU (cropped to the box); GPU chunks bounded by memory.
    num_chunks = n if cpu else int(np.ceil(n * height * width * BYTES_PER_FLOAT
                                           / GPU_MEM_LIMIT))
    for inds in torch.chunk(torch.arange(n, device=device), max(1, min(n, num_chunks))):
        chunk, region = _do_paste_mask(mask_probs[inds, None], boxes[inds], height, width,
                                       skip_empty=cpu)
        masks[(inds, ) + region] = chunk >= threshold
    return masks


def finalize_instances(results: InstanceData, mask_probs: Tensor, img_shape: Sequence[int],
                       ori_shape: Sequence[int] | None, mask_thr_binary: float) -> InstanceData:
    """centermask2's ``detector_postprocess`` for one image (items 4 and 5).

    Scales the unclipped boxes to the output size (``ori_shape`` when given, as mmdet's
    ``rescale=True``; else ``img_shape``) by output / input size per axis, clips them,
    drops the empty ones and pastes each mask (predicted for the unclipped box) into its
    clipped box.

    Args:
        results: ``bboxes`` (n, 4) unclipped in input pixels, ``scores``, ``labels`` and any
            per-instance fields (e.g. ``mask_scores``), all kept for the surviving boxes.
        mask_probs: (n, M, M) mask probabilities of each box's class.
        img_shape: (h, w) of the resized, un-padded input.
        ori_shape: (h, w) of the original image, or None for no rescaling.
        mask_thr_binary: Paste threshold (``>=``).

    Returns:
        InstanceData: The non-empty instances with clipped ``bboxes`` and ``masks``
        (n', H, W) bool.
    """
    in_h, in_w = int(img_shape[0]), int(img_shape[1])
    out_h, out_w = (in_h, in_w) if ori_shape is None else (int(ori_shape[0]),
                                                         int(ori_shape[1]))
    boxes = results.bboxes
    if (out_h, out_w) != (in_h, in_w):
        boxes = boxes.clone()
        boxes[:, 0::2] *= out_w / in_w
        boxes[:, 1::2] *= out_h / in_h
    boxes = clip_boxes(boxes, out_h, out_w)
    keep = nonempty(boxes)
    results = results[keep]
    results.bboxes = boxes[keep]
    results.masks = paste_masks(mask_probs[keep], results.bboxes, out_h, out_w,
                                mask_thr_binary)
    return results
