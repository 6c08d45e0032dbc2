"""CenterMask detector: FCOS boxes + a Mask R-CNN-style mask branch (Lee & Park, CVPR 2020)."""
from __future__ import annotations

import copy

from mmdet.models.detectors import BaseDetector, SingleStageDetector
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample, OptSampleList, SampleList
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor

from ..utils.centermask2_postprocess import check_postprocess_mode, fcos_detections


def _as_cfg(cfg: dict | None) -> ConfigDict | None:
    return None if cfg is None else ConfigDict(cfg)


@MODELS.register_module()
class CenterMask(SingleStageDetector):
    """CenterMask: backbone -> FPN (P3-P7) -> FCOS head -> mask branch on detected boxes.

    It is a one-stage detector with a mask branch, not a two-stage one (mmdet's
    ``TwoStageDetector`` would make the box head class-agnostic, zero GT labels and demand a
    box head inside the RoI head).

    - ``loss``: FCOS losses; FCOS's detached post-processed detections
      (``train_cfg.fcos_proposal``: score threshold, top 1000 per level, NMS 0.6, top 100)
      go with the GT boxes to ``roi_head.loss`` (mask and MaskIoU losses).
    - ``predict``: FCOS detections (``test_cfg.fcos``, top 50) in resized-image pixels,
      then masks pasted into the original image; outputs ``bboxes``, ``labels``,
      ``scores`` (box scores), ``masks`` and, with mask scoring, ``mask_scores``.
    - ``tensor``: FCOS raw outputs plus the mask-branch outputs on the FCOS detections.

    Args:
        backbone (ConfigType): Backbone giving C3-C5.
        neck (ConfigType): FPN with 5 outputs (P3-P7).
        bbox_head (ConfigType): ``FCOSHead``.
        roi_head (ConfigType): :class:`CenterMaskRoIHead`.
        train_cfg (OptConfigType): ``fcos`` (FCOS train cfg, usually None),
            ``fcos_proposal`` (post-processing of training proposals) and ``mask``
            (assigner / sampler / mask_size / mask_thr_binary of the mask branch).
        test_cfg (OptConfigType): ``fcos`` (detection post-processing), ``mask``
            (``mask_thr_binary``) and ``postprocess``: ``'mmdet'`` (default; mmdet's FCOS
            post-processing: score ``cls * ctr``, boxes clipped before the mask branch) or
            ``'centermask2'`` (centermask2's inference, as the published models were
            evaluated: score ``sqrt(cls * ctr)``, threshold on ``cls``, pre-NMS top-k by
            ``cls * ctr``, boxes clipped only at the end with the mask of the unclipped box
            pasted into the clipped one, empty boxes dropped after the top-k; see
            :mod:`centermask_mm.models.utils.centermask2_postprocess`).
        data_preprocessor (OptConfigType): ``DetDataPreprocessor`` config.
        init_cfg (OptMultiConfig): Initialisation config.

    Raises:
        ValueError: at build time, when class counts, channel widths or the pooled level
            range of the parts disagree (the message names the config keys).
    """

    def __init__(self,
                 backbone: ConfigType,
                 neck: ConfigType,
                 bbox_head: ConfigType,
                 roi_head: ConfigType,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        # SingleStageDetector.__init__ would hand the whole train/test cfg to FCOS.
        BaseDetector.__init__(self, data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        train_cfg = ConfigDict(train_cfg or {})
        test_cfg = ConfigDict(test_cfg or {})
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck)
        bbox_head = copy.deepcopy(bbox_head)
        bbox_head.update(train_cfg=_as_cfg(train_cfg.get("fcos")),
                         test_cfg=_as_cfg(test_cfg.get("fcos")))
        self.bbox_head = MODELS.build(bbox_head)
        roi_head = copy.deepcopy(roi_head)
        roi_head.update(train_cfg=_as_cfg(train_cfg.get("mask")),
                        test_cfg=_as_cfg(test_cfg.get("mask")))
        self.roi_head = MODELS.build(roi_head)
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg
        self.postprocess = check_postprocess_mode(test_cfg.get("postprocess", "mmdet"))
        self._check_consistency()

    def _check_consistency(self) -> None:
        """Fail at build time when the parts of the model disagree."""
        errors: list[str] = []
        roi = self.roi_head
        n_cls = {"model.bbox_head.num_classes": self.bbox_head.num_classes,
                 "model.roi_head.mask_head.num_classes": roi.mask_head.num_classes}
        if roi.with_mask_iou:
            n_cls["model.roi_head.mask_iou_head.num_classes"] = roi.mask_iou_head.num_classes
        if len(set(n_cls.values())) > 1:
            errors.append("inconsistent class counts: "
                          + ", ".join(f"{k}={v}" for k, v in n_cls.items()))

        neck_ch = getattr(self.neck, "out_channels", None)
        widths = {"model.neck.out_channels": neck_ch,
                  "model.bbox_head.in_channels": self.bbox_head.in_channels,
                  "model.roi_head.mask_roi_extractor.out_channels":
                      roi.mask_roi_extractor.out_channels,
                  "model.roi_head.mask_head.in_channels": roi.mask_head.in_channels}
        if roi.with_mask_iou:
            widths["model.roi_head.mask_iou_head.in_channels"] = roi.mask_iou_head.in_channels
        if len({v for v in widths.values() if v is not None}) > 1:
            errors.append("inconsistent channel widths: "
                          + ", ".join(f"{k}={v}" for k, v in widths.items()))

        pooled = list(roi.mask_roi_extractor.featmap_strides)
        fcos_strides = [int(s[0]) if isinstance(s, tuple | list) else int(s)
                        for s in self.bbox_head.strides]
        num_outs = getattr(self.neck, "num_outs", len(fcos_strides))
        if len(pooled) > num_outs or pooled != fcos_strides[:len(pooled)]:
            errors.append(
                f"pooled level range model.roi_head.mask_roi_extractor.featmap_strides="
                f"{pooled} is not a leading sub-range of the FPN outputs (model.neck.num_outs="
                f"{num_outs}, model.bbox_head.strides={fcos_strides}); the mask branch pools "
                "from the first FPN output (P3) upwards")
        if errors:
            raise ValueError("CenterMask config error: " + "; ".join(errors))

    @property
    def with_roi_head(self) -> bool:
        """bool: always True; kept for parity with mmdet's detectors."""
        return True

    def loss(self, batch_inputs: Tensor, batch_data_samples: SampleList) -> dict:
        """FCOS, mask and MaskIoU losses.

        Args:
            batch_inputs (Tensor): (B, 3, H, W) preprocessed images.
            batch_data_samples (list[DetDataSample]): GT ``bboxes``, ``labels``, ``masks``.

        Returns:
            dict[str, Tensor]: ``loss_cls``, ``loss_bbox``, ``loss_centerness``,
            ``loss_mask`` and, with mask scoring, ``loss_mask_iou``.
        """
        x = self.extract_feat(batch_inputs)
        proposal_cfg = self.train_cfg.get("fcos_proposal", self.test_cfg.get("fcos"))
        losses, proposals = self.bbox_head.loss_and_predict(
            x, batch_data_samples, proposal_cfg=_as_cfg(proposal_cfg))
        mask_losses = self.roi_head.loss(x, proposals, batch_data_samples)
        clash = set(losses) & set(mask_losses)
        if clash:
            raise KeyError(f"CenterMask: loss names used by both heads: {sorted(clash)}")
        losses.update(mask_losses)
        return losses

    def predict(self, batch_inputs: Tensor, batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Detect and segment.

        Args:
            batch_inputs (Tensor): (B, 3, H, W) preprocessed images.
            batch_data_samples (list[DetDataSample]): Metainfo per image.
            rescale (bool): Return boxes and masks in original-image pixels.

        Returns:
            list[DetDataSample]: ``pred_instances`` with ``bboxes`` (n, 4), ``labels`` (n,),
            ``scores`` (n,), ``masks`` (n, H, W) and, with mask scoring, ``mask_scores`` (n,).
        """
        x = self.extract_feat(batch_inputs)
        if self.postprocess == "centermask2":
            results_list = self.fcos_detections_centermask2(
                self.bbox_head(x), [s.metainfo for s in batch_data_samples])
            results_list = self.roi_head.predict_centermask2(
                x, results_list, batch_data_samples, rescale=rescale)
            return self.add_pred_to_datasample(batch_data_samples, results_list)
        # Boxes stay in resized-image pixels for RoIAlign and Eq. 2; the mask head rescales
        # them (in place) when it pastes the masks.
        results_list = self.bbox_head.predict(x, batch_data_samples, rescale=False)
        results_list = self.roi_head.predict(x, results_list, batch_data_samples,
                                             rescale=rescale)
        return self.add_pred_to_datasample(batch_data_samples, results_list)

    def fcos_detections_centermask2(self, fcos_outs: tuple, batch_img_metas: list[dict]
                                    ) -> list[InstanceData]:
        """centermask2's FCOS detections per image: unclipped boxes in input pixels.

        Args:
            fcos_outs: ``(cls_scores, bbox_preds, centernesses)`` of ``FCOSHead.forward``
                in eval mode, each a list over levels of (B, *, H_l, W_l).
            batch_img_metas: One metainfo dict per image (unused for the boxes: they are
                not clipped here; kept for a uniform signature).

        Returns:
            list[InstanceData]: ``bboxes`` (n, 4), ``scores`` (n,) ``sqrt(cls * ctr)``,
            ``labels`` (n,) per image.
        """
        cls_scores, bbox_preds, centernesses = fcos_outs[:3]
        sizes = [c.shape[-2:] for c in cls_scores]
        points = self.bbox_head.prior_generator.grid_priors(
            sizes, dtype=bbox_preds[0].dtype, device=bbox_preds[0].device)
        cfg = self.test_cfg.get("fcos") or {}
        return [fcos_detections([c[i] for c in cls_scores], [b[i] for b in bbox_preds],
                                [t[i] for t in centernesses], points, cfg)
                for i in range(len(batch_img_metas))]

    def _forward(self, batch_inputs: Tensor,
                 batch_data_samples: OptSampleList = None) -> tuple:
        """Raw outputs: FCOS ``cls_scores``, ``bbox_preds``, ``centernesses`` (lists over
        levels), then the mask branch's ``mask_preds`` (and MaskIoU) on the FCOS detections
        (those of ``test_cfg.postprocess``: unclipped boxes with ``'centermask2'``).
        """
        x = self.extract_feat(batch_inputs)
        fcos_outs = self.bbox_head.forward(x)
        if batch_data_samples is None:
            h, w = batch_inputs.shape[-2:]
            meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
                        scale_factor=(1.0, 1.0))
            batch_data_samples = [DetDataSample(metainfo=meta)
                                  for _ in range(batch_inputs.shape[0])]
        batch_img_metas = [s.metainfo for s in batch_data_samples]
        if self.postprocess == "centermask2":
            results_list = self.fcos_detections_centermask2(fcos_outs, batch_img_metas)
        else:
            results_list = self.bbox_head.predict_by_feat(
                *fcos_outs, batch_img_metas=batch_img_metas, rescale=False)
        return tuple(fcos_outs) + self.roi_head.forward(x, results_list, batch_data_samples)
