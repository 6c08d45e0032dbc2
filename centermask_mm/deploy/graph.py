"""CenterMask inference as one traceable torch module: the graph that is exported to ONNX.

:class:`CenterMaskExportGraph` wraps a built :class:`~centermask_mm.models.CenterMask` and
re-uses its own modules (backbone, FPN, FCOS head convs, SAG-Mask, MaskIoU); only the
steps whose mmdet implementation is not traceable (data-dependent Python branches, mmcv's
custom ops, in-place clamps) are written out here, as tensor ops that do the same
arithmetic in the same order, so the ONNX outputs equal ``CenterMask.predict``'s.

Graph, for one image (batch 1):

1. ``image`` (1, 3, H, W) float32 BGR, unnormalised -> the config's
   ``data_preprocessor``: channel flip if ``bgr_to_rgb``, ``(x - mean) / std``, zero
   padding (in normalised space, as mmdet pads) at the bottom/right to a multiple of
   ``pad_size_divisor``. (H, W) is the resized, un-padded image: mmdet's ``img_shape``.
2. backbone -> FPN -> FCOS head (``cls``, ``bbox``, ``centerness`` per level).
3. FCOS decoding per level: ``sigmoid(cls) > score_thr``, top ``nms_pre`` (class,
   location) pairs, distance -> box, then class-aware NMS (ONNX ``NonMaxSuppression`` on
   boxes offset by ``label * (max coordinate + 1)``, mmcv's ``batched_nms`` trick) keeping
   ``max_per_img``. The two post-processing modes of ``model.test_cfg.postprocess``:

   - ``'mmdet'``: mmdet's ``FCOSHead``: candidates ranked by ``sigmoid(cls)``, boxes
     clipped to (H, W) at decoding, boxes with zero width or height dropped before NMS,
     score ``cls * ctr``.
   - ``'centermask2'``: centermask2's: candidates ranked by ``cls * ctr``, score
     ``sqrt(cls * ctr)``, boxes unclipped through NMS, Eq. 2 and RoIAlign, clipped to
     (H, W) only at the end, where boxes left with zero width or height are dropped.

4. Mask branch on the detections: Eq. 2 (or Eq. 1) level of every box, ONNX ``RoiAlign``
   on each pooled level and a per-box select, SAG-Mask, MaskIoU.

Outputs (N detections, best box score first): ``boxes`` (N, 4) x1y1x2y2 in input
pixels, ``scores`` (N,) box scores, ``labels`` (N,) int64, ``mask_scores`` (N,) =
``scores * MaskIoU`` (= ``scores`` without a MaskIoU head), ``masks`` (N, 28, 28)
probabilities of the box's class, to be pasted with :func:`centermask_mm.deploy.paste_masks`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .ops import RoIAlignAvg, SingleClassNMS

#: Values of ``model.test_cfg.postprocess``; 'mmdet' when the key is absent.
POSTPROCESS_MODES: tuple[str, ...] = ("mmdet", "centermask2")

OUTPUT_NAMES: tuple[str, ...] = ("boxes", "scores", "labels", "mask_scores", "masks")


class ExportError(ValueError):
    """A model or config that the ONNX graph cannot express; the message says which key."""


def postprocess_mode(model: nn.Module) -> str:
    """The post-processing the model's ``predict`` uses: ``model.postprocess`` (set from
    ``test_cfg.postprocess``), 'mmdet' for a CenterMask without the switch."""
    test_cfg = getattr(model, "test_cfg", None) or {}
    asked = test_cfg.get("postprocess", "mmdet")
    mode = getattr(model, "postprocess", "mmdet")
    if asked not in POSTPROCESS_MODES or mode not in POSTPROCESS_MODES:
        raise ExportError(f"model.test_cfg.postprocess={asked!r} is not one of "
                          f"{POSTPROCESS_MODES}")
    if asked != mode:
        raise ExportError(f"model.test_cfg.postprocess={asked!r}, but this CenterMask's "
                          f"predict uses {mode!r} (no post-processing switch)")
    return mode


class CenterMaskExportGraph(nn.Module):
    """Traceable CenterMask inference (see the module docstring for the graph).

    Args:
        model (nn.Module): A built ``CenterMask`` in eval mode.

    Raises:
        ExportError: when the model has parts the graph cannot express (the message names
            the config key): a non-FCOS box head, an RoI extractor other than
            ``ScaleAdaptiveRoIExtractor``, a class-agnostic mask head, a box coder that
            does not clip, an NMS type other than ``nms``.

    Shape:
        ``image`` (1, 3, H, W) float32 -> ``boxes`` (N, 4), ``scores`` (N,), ``labels``
        (N,) int64, ``mask_scores`` (N,), ``masks`` (N, S, S) with S = 28.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        from mmdet.models.dense_heads import FCOSHead

        from centermask_mm.models.roi_heads.roi_extractors.scale_adaptive_roi_extractor import (
            ScaleAdaptiveRoIExtractor,
        )

        self.model = model
        self.postprocess = postprocess_mode(model)
        dp = model.data_preprocessor
        self.bgr_to_rgb = bool(getattr(dp, "_channel_conversion", False))
        self.normalize = bool(getattr(dp, "_enable_normalize", False))
        if self.normalize:
            self.register_buffer("mean", dp.mean.detach().clone().view(1, -1, 1, 1), False)
            self.register_buffer("std", dp.std.detach().clone().view(1, -1, 1, 1), False)
        self.pad_divisor = int(getattr(dp, "pad_size_divisor", 1) or 1)
        self.pad_value = float(getattr(dp, "pad_value", 0) or 0)

        head = model.bbox_head
        if not isinstance(head, FCOSHead):
            raise ExportError(f"model.bbox_head is {type(head).__name__}; the export graph "
                              "decodes FCOSHead outputs only")
        if not getattr(head, "use_sigmoid_cls", True):
            raise ExportError("model.bbox_head.loss_cls must use sigmoid scores")
        self.strides = [int(s[0]) if isinstance(s, tuple | list) else int(s)
                        for s in head.prior_generator.strides]
        self.prior_offset = float(head.prior_generator.offset)
        self.num_classes = int(head.cls_out_channels)
        fcos_cfg = head.test_cfg
        nms_cfg = fcos_cfg.get("nms", {})
        if nms_cfg.get("type", "nms") != "nms" or nms_cfg.get("class_agnostic", False):
            raise ExportError(f"model.test_cfg.fcos.nms={dict(nms_cfg)}: only class-aware "
                              "type='nms' is exported")
        self.score_thr = float(fcos_cfg.get("score_thr", 0.0))
        self.nms_pre = int(fcos_cfg.get("nms_pre", -1))
        self.iou_thr = float(nms_cfg["iou_threshold"])
        self.max_per_img = int(fcos_cfg.get("max_per_img", 100))
        self.min_bbox_size = fcos_cfg.get("min_bbox_size", -1)
        if self.postprocess == "mmdet" and not getattr(head.bbox_coder, "clip_border", True):
            raise ExportError("model.bbox_head.bbox_coder.clip_border=False is not exported")

        roi = model.roi_head
        ext = roi.mask_roi_extractor
        if not isinstance(ext, ScaleAdaptiveRoIExtractor):
            raise ExportError(f"model.roi_head.mask_roi_extractor is {type(ext).__name__}; "
                              "the export graph implements ScaleAdaptiveRoIExtractor")
        layer = ext.roi_layers[0]
        if type(layer).__name__ != "RoIAlign" or getattr(layer, "pool_mode", "avg") != "avg":
            raise ExportError("model.roi_head.mask_roi_extractor.roi_layer must be an "
                              "average RoIAlign")
        self.roi_size = int(layer.output_size[0])
        self.sampling_ratio = int(layer.sampling_ratio)
        self.aligned = bool(layer.aligned)
        self.roi_strides = [int(s) for s in ext.featmap_strides]
        self.assign = ext.assign
        self.eps = float(ext.eps)
        self.canonical_scale = float(ext.canonical_scale)
        self.canonical_level = int(ext.canonical_level)
        self.k_min, self.k_max = int(ext.k_min), int(ext.k_max)
        if getattr(roi.mask_head, "class_agnostic", False):
            raise ExportError("model.roi_head.mask_head.class_agnostic=True is not exported")
        self.with_mask_iou = bool(roi.with_mask_iou)

    # -- 1. preprocessing ------------------------------------------------------------
    def preprocess(self, image: Tensor) -> Tensor:
        """Normalise and pad as ``model.data_preprocessor`` does: (1, 3, H, W) ->
        (1, 3, H', W') with H', W' multiples of ``pad_size_divisor``."""
        x = image
        if self.bgr_to_rgb:
            x = x.flip(1)
        if self.normalize:
            x = (x - self.mean) / self.std
        d = self.pad_divisor
        if d > 1:
            # Traced, image.shape[i] is a tensor, so the padding follows dynamic shapes.
            pad_h = (d - image.shape[2] % d) % d
            pad_w = (d - image.shape[3] % d) % d
            x = F.pad(x, (0, pad_w, 0, pad_h), value=self.pad_value)
        return x

    # -- 3. FCOS decoding ------------------------------------------------------------
    def _priors(self, feat: Tensor, stride: int) -> Tensor:
        """(H_l * W_l, 2) point priors, row-major as mmdet's ``MlvlPointGenerator``."""
        h, w = feat.shape[2], feat.shape[3]
        xs = (torch.arange(w, device=feat.device).to(torch.float32) + self.prior_offset) * stride
        ys = (torch.arange(h, device=feat.device).to(torch.float32) + self.prior_offset) * stride
        xx = xs.view(1, -1).expand(ys.shape[0], xs.shape[0]).reshape(-1)
        yy = ys.view(-1, 1).expand(ys.shape[0], xs.shape[0]).reshape(-1)
        return torch.stack([xx, yy], dim=1)

    def _level_candidates(self, cls: Tensor, reg: Tensor, ctr: Tensor,
                          stride: int) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Top candidates of one level: (cls score, centerness, label, distances, prior)."""
        c = self.num_classes
        scores = cls[0].permute(1, 2, 0).reshape(-1, c).sigmoid()  # (HW, C)
        ctr = ctr[0].permute(1, 2, 0).reshape(-1).sigmoid()         # (HW,)
        reg = reg[0].permute(1, 2, 0).reshape(-1, 4)                 # (HW, 4)
        flat = scores.reshape(-1)                                    # index = loc * C + cls
        if self.postprocess == "centermask2":
            # Ranked by cls * ctr among the pairs whose cls score passes the threshold.
            rank = (scores * ctr[:, None]).reshape(-1)
            rank = torch.where(flat > self.score_thr, rank, torch.full_like(rank, -1.0))
        else:
            rank = flat
        if self.nms_pre > 0:
            # A fixed-size TopK on the scores padded with k sentinels below any threshold:
            # no data-dependent k, and it selects exactly mmdet's top min(k, #valid).
            padded = torch.cat([rank, rank.new_full((self.nms_pre,), -2.0)])
            top, idx = padded.topk(self.nms_pre)
        else:
            top, idx = rank.sort(descending=True)
        valid = top > (self.score_thr if self.postprocess == "mmdet" else -1.0)
        idx = idx[valid]
        loc = torch.div(idx, c, rounding_mode="floor")
        labels = idx - loc * c
        cls_scores = flat[idx]
        return cls_scores, ctr[loc], labels, reg[loc], self._priors(cls, stride)[loc]

    def detect(self, feats: tuple[Tensor, ...], img_hw: Tensor) -> tuple[Tensor, ...]:
        """FCOS boxes (N, 4), scores (N,), labels (N,) after NMS and the top-k cut."""
        cls_scores, bbox_preds, centernesses = self.model.bbox_head(feats)
        parts = [self._level_candidates(cls, reg, ctr, s) for cls, reg, ctr, s in
                 zip(cls_scores, bbox_preds, centernesses, self.strides, strict=True)]
        cls_s, ctr_s, labels, dist, priors = (torch.cat(list(t)) for t in zip(*parts,
                                                                               strict=True))
        x1 = priors[:, 0] - dist[:, 0]
        y1 = priors[:, 1] - dist[:, 1]
        x2 = priors[:, 0] + dist[:, 2]
        y2 = priors[:, 1] + dist[:, 3]
        h, w = img_hw[0].to(torch.float32), img_hw[1].to(torch.float32)
        if self.postprocess == "mmdet":
            zero = torch.zeros((), dtype=torch.float32)
            x1, x2 = (torch.minimum(torch.maximum(v, zero), w) for v in (x1, x2))
            y1, y2 = (torch.minimum(torch.maximum(v, zero), h) for v in (y1, y2))
            scores = cls_s * ctr_s
        else:
            scores = (cls_s * ctr_s).sqrt()
        boxes = torch.stack([x1, y1, x2, y2], dim=1)
        if self.postprocess == "mmdet" and self.min_bbox_size >= 0:
            keep = ((x2 - x1) > self.min_bbox_size) & ((y2 - y1) > self.min_bbox_size)
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        # Class-aware NMS as mmcv's batched_nms: shift each class by max coordinate + 1.
        # The appended 0 keeps the max defined for zero boxes (coordinates are >= 0 in
        # mmdet mode; x2, y2 >= the prior's centre in centermask2 mode).
        max_coord = torch.cat([boxes.reshape(-1), boxes.new_zeros(1)]).max()
        offsets = labels.to(boxes.dtype) * (max_coord + 1.0)
        keep = SingleClassNMS.apply(boxes + offsets[:, None], scores, self.iou_thr,
                                    self.max_per_img)
        return boxes[keep], scores[keep], labels[keep]

    # -- 4. mask branch ---------------------------------------------------------------
    def _roi_levels(self, boxes: Tensor, img_hw: Tensor) -> Tensor:
        """Pooled-level index (N,) in [0, L): Eq. 2 (or Eq. 1) written with comparisons.

        ``ceil(k_max - log2(r))`` with ``r = A_input / A_roi`` equals ``k_max`` minus the
        number of j >= 1 with ``r >= 2**j``; comparing avoids ONNX's missing Log2 (and a
        Log / Log(2) that could round across a level boundary).
        """
        w = (boxes[:, 2] - boxes[:, 0]).clamp(min=0)
        h = (boxes[:, 3] - boxes[:, 1]).clamp(min=0)
        area = (w * h).clamp(min=self.eps)
        span = self.k_max - self.k_min
        level = torch.full_like(area, float(span))
        if self.assign == "eq2":
            img_area = (img_hw[0] * img_hw[1]).to(torch.float32)
            ratio = img_area / area
            for j in range(1, span + 1):
                level = level - (ratio >= 2.0 ** j).to(level.dtype)
        else:
            # floor(k0 + log2(sqrt(area) / 224)), clamped: count the doublings.
            size = area.sqrt() / self.canonical_scale
            level = torch.zeros_like(area)
            for j in range(self.k_min + 1, self.k_max + 1):
                level = level + (size >= 2.0 ** (j - self.canonical_level)).to(level.dtype)
        return level.to(torch.long)

    def masks(self, feats: tuple[Tensor, ...], boxes: Tensor, labels: Tensor,
              img_hw: Tensor) -> tuple[Tensor, Tensor]:
        """28 x 28 mask probabilities (N, S, S) of the labelled class and MaskIoU (N,)."""
        levels = self._roi_levels(boxes, img_hw)
        batch_idx = torch.zeros_like(labels)
        pooled = None
        for i, stride in enumerate(self.roi_strides):
            out = RoIAlignAvg.apply(feats[i], boxes, batch_idx, self.roi_size, 1.0 / stride,
                                    self.sampling_ratio, self.aligned)
            pooled = out if pooled is None else torch.where(
                (levels == i).view(-1, 1, 1, 1), out, pooled)
        roi = self.model.roi_head
        mask_logits = roi.mask_head(pooled)                         # (N, K, 28, 28)
        s = mask_logits.shape[-1]
        index = labels.view(-1, 1, 1, 1).expand(-1, 1, s, s)
        cls_logits = mask_logits.gather(1, index).squeeze(1)         # (N, 28, 28)
        if self.with_mask_iou:
            iou = roi.mask_iou_head(pooled, cls_logits).gather(1, labels.view(-1, 1))
            iou = iou.squeeze(1)
        else:
            iou = None
        return cls_logits.sigmoid(), iou

    def forward(self, image: Tensor) -> tuple[Tensor, ...]:
        """See the class docstring; returns the tensors named by :data:`OUTPUT_NAMES`."""
        img_hw = torch._shape_as_tensor(image)[2:4]
        feats = self.model.extract_feat(self.preprocess(image))
        boxes, scores, labels = self.detect(feats, img_hw)
        masks, iou = self.masks(feats, boxes, labels, img_hw)
        mask_scores = scores if iou is None else scores * iou
        if self.postprocess == "centermask2":
            h, w = img_hw[0].to(torch.float32), img_hw[1].to(torch.float32)
            zero = torch.zeros((), dtype=torch.float32)
            x1, x2 = (torch.minimum(torch.maximum(boxes[:, i], zero), w) for i in (0, 2))
            y1, y2 = (torch.minimum(torch.maximum(boxes[:, i], zero), h) for i in (1, 3))
            boxes = torch.stack([x1, y1, x2, y2], dim=1)
            keep = ((x2 - x1) > 0) & ((y2 - y1) > 0)
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
            mask_scores, masks = mask_scores[keep], masks[keep]
        return boxes, scores, labels, mask_scores, masks
