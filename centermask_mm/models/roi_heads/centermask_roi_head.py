"""Mask branch of CenterMask: RoIAlign on FCOS boxes -> SAG-Mask (-> MaskIoU)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.models.task_modules.samplers import SamplingResult
from mmdet.models.utils import empty_instances, unpack_gt_instances
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.structures.bbox import bbox2roi
from mmdet.utils import ConfigType, InstanceList, OptConfigType, OptMultiConfig
from mmengine.structures import InstanceData
from torch import Tensor

from ..utils.centermask2_postprocess import finalize_instances
from .roi_extractors.scale_adaptive_roi_extractor import ScaleAdaptiveRoIExtractor


@MODELS.register_module()
class CenterMaskRoIHead(StandardRoIHead):
    """RoI head with a mask branch only, fed with boxes from a one-stage detector.

    Unlike Mask R-CNN there is no box head: the RoIs are FCOS detections, which already
    carry a class and a score. In training the FCOS proposals (detached) plus the GT boxes
    are matched to GT by ``train_cfg.assigner`` (IoU >= 0.5, no low-quality matches) and
    subsampled by ``train_cfg.sampler`` (512 per image, 1/4 positive); only positives reach
    the mask head, labelled with their matched GT's class. With a MaskIoU head (mask
    scoring, Mask Scoring R-CNN) ``predict`` adds ``mask_scores = scores * MaskIoU`` and
    leaves ``scores`` (the box scores) untouched; mmdet's ``CocoMetric`` ranks segm results
    by ``mask_scores`` and bbox results by ``scores``.

    Args:
        mask_roi_extractor (ConfigType): RoI extractor, normally
            :class:`ScaleAdaptiveRoIExtractor`; it is given the image shapes (Eq. 2).
        mask_head (ConfigType): Mask head, normally :class:`SAGMaskHead`.
        mask_iou_head (OptConfigType): ``MaskIoUHead`` config, or None to switch mask
            scoring off. Defaults to None.
        detach_mask_iou_input (bool): Stop the MaskIoU loss from reaching the mask head
            through the predicted mask it consumes. centermask2 does not detach. Defaults
            to False.
        train_cfg (OptConfigType): ``assigner``, ``sampler``, ``mask_size`` (28),
            ``mask_thr_binary`` (on logits, for MaskIoU targets; 0.0 means p > 0.5).
        test_cfg (OptConfigType): ``mask_thr_binary`` (on probabilities, 0.5).
        init_cfg (OptMultiConfig): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 mask_roi_extractor: ConfigType,
                 mask_head: ConfigType,
                 mask_iou_head: OptConfigType = None,
                 detach_mask_iou_input: bool = False,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        if mask_roi_extractor is None or mask_head is None:
            raise ValueError("CenterMaskRoIHead needs both 'mask_roi_extractor' and 'mask_head'")
        super().__init__(bbox_roi_extractor=None, bbox_head=None,
                         mask_roi_extractor=mask_roi_extractor, mask_head=mask_head,
                         train_cfg=train_cfg, test_cfg=test_cfg, init_cfg=init_cfg)
        self.mask_iou_head = MODELS.build(mask_iou_head) if mask_iou_head is not None else None
        self.detach_mask_iou_input = detach_mask_iou_input

    @property
    def with_mask_iou(self) -> bool:
        """bool: whether mask scoring (a MaskIoU head) is on."""
        return self.mask_iou_head is not None

    @staticmethod
    def _img_shapes(batch_img_metas: Sequence[dict]) -> list[tuple[int, int]]:
        """Resized, un-padded (h, w) of every image: A_input of Eq. 2."""
        return [tuple(int(v) for v in meta["img_shape"][:2]) for meta in batch_img_metas]

    def _mask_forward(self, x: tuple[Tensor, ...], rois: Tensor,
                      img_shapes: Sequence[tuple[int, int]] | None = None) -> dict:
        """Pool RoI features and run the mask head.

        Args:
            x (tuple[Tensor]): FPN maps (B, C, H_l, W_l), finest (P3) first.
            rois (Tensor): (N, 5) RoIs in input-image pixels.
            img_shapes (Sequence[(h, w)], optional): Per-image resized shapes.

        Returns:
            dict: ``mask_preds`` (N, K, 28, 28) logits and ``mask_feats`` (N, C, 14, 14).
        """
        feats = x[:self.mask_roi_extractor.num_inputs]
        if isinstance(self.mask_roi_extractor, ScaleAdaptiveRoIExtractor):
            mask_feats = self.mask_roi_extractor(feats, rois, img_shapes=img_shapes)
        else:
            mask_feats = self.mask_roi_extractor(feats, rois)
        mask_preds = self.mask_head(mask_feats)
        return dict(mask_preds=mask_preds, mask_feats=mask_feats)

    def _mask_iou(self, mask_feats: Tensor, mask_preds: Tensor, labels: Tensor,
                  detach: bool = False) -> Tensor:
        """Predicted MaskIoU (N,) of each RoI for its class ``labels`` (N,)."""
        idx = torch.arange(labels.numel(), device=labels.device)
        cls_mask = mask_preds[idx, labels]
        if detach:
            cls_mask = cls_mask.detach()
        return self.mask_iou_head(mask_feats, cls_mask)[idx, labels]

    def forward(self, x: tuple[Tensor, ...], rpn_results_list: InstanceList,
                batch_data_samples: SampleList | None = None) -> tuple[Tensor, ...]:
        """Tensor-mode forward on given boxes (no post-processing).

        Args:
            x (tuple[Tensor]): FPN maps.
            rpn_results_list (list[InstanceData]): Boxes per image (``bboxes``, ``labels``).
            batch_data_samples (list[DetDataSample]): For ``img_shape`` (Eq. 2).

        Returns:
            tuple[Tensor]: ``mask_preds`` (N, K, 28, 28) and, with mask scoring,
            MaskIoU predictions (N,) for the boxes' classes.
        """
        rois = bbox2roi([res.bboxes for res in rpn_results_list])
        img_shapes = None
        if batch_data_samples is not None:
            img_shapes = self._img_shapes([s.metainfo for s in batch_data_samples])
        mask_results = self._mask_forward(x, rois, img_shapes)
        outs: tuple[Tensor, ...] = (mask_results["mask_preds"],)
        if self.with_mask_iou:
            labels = torch.cat([res.labels for res in rpn_results_list]).long()
            outs += (self._mask_iou(mask_results["mask_feats"], mask_results["mask_preds"],
                                    labels),)
        return outs

    def loss(self, x: tuple[Tensor, ...], rpn_results_list: InstanceList,
             batch_data_samples: SampleList) -> dict:
        """Mask (and MaskIoU) losses on sampled positive RoIs.

        Args:
            x (tuple[Tensor]): FPN maps.
            rpn_results_list (list[InstanceData]): FCOS detections per image (``bboxes`` in
                resized-image pixels); they are not modified.
            batch_data_samples (list[DetDataSample]): GT instances with ``masks``.

        Returns:
            dict[str, Tensor]: ``loss_mask`` and, with mask scoring, ``loss_mask_iou``.
        """
        if len(rpn_results_list) != len(batch_data_samples):
            raise ValueError(f"CenterMaskRoIHead.loss: {len(rpn_results_list)} proposal lists "
                             f"for {len(batch_data_samples)} images")
        batch_gt_instances, batch_gt_instances_ignore, batch_img_metas = \
            unpack_gt_instances(batch_data_samples)
        sampling_results: list[SamplingResult] = []
        for i, proposals in enumerate(rpn_results_list):
            # Boxes are used as priors and carry no gradient (FCOS post-processing
            # detaches them).
            priors = InstanceData(priors=proposals.bboxes.detach())
            assign_result = self.bbox_assigner.assign(
                priors, batch_gt_instances[i], batch_gt_instances_ignore[i])
            sampling_results.append(self.bbox_sampler.sample(
                assign_result, priors, batch_gt_instances[i],
                feats=[lvl_feat[i][None] for lvl_feat in x]))
        return self.mask_loss(x, sampling_results, batch_gt_instances,
                              self._img_shapes(batch_img_metas))

    def mask_loss(self, x: tuple[Tensor, ...], sampling_results: list[SamplingResult],
                  batch_gt_instances: InstanceList,
                  img_shapes: Sequence[tuple[int, int]] | None = None) -> dict:
        """Losses of the mask branch on the positive RoIs of ``sampling_results``."""
        pos_rois = bbox2roi([res.pos_priors for res in sampling_results])
        mask_results = self._mask_forward(x, pos_rois, img_shapes)
        mask_loss_and_target = self.mask_head.loss_and_target(
            mask_preds=mask_results["mask_preds"], sampling_results=sampling_results,
            batch_gt_instances=batch_gt_instances, rcnn_train_cfg=self.train_cfg)
        losses = dict(mask_loss_and_target["loss_mask"])
        if self.with_mask_iou:
            pos_labels = torch.cat([res.pos_gt_labels for res in sampling_results]).long()
            mask_iou_pred = self._mask_iou(mask_results["mask_feats"], mask_results["mask_preds"],
                                           pos_labels, detach=self.detach_mask_iou_input)
            idx = torch.arange(pos_labels.numel(), device=pos_labels.device)
            # The MaskIoU target thresholds these logits at train_cfg.mask_thr_binary.
            pos_mask_logits = mask_results["mask_preds"][idx, pos_labels].detach()
            losses.update(self.mask_iou_head.loss_and_target(
                mask_iou_pred, pos_mask_logits, mask_loss_and_target["mask_targets"],
                sampling_results, batch_gt_instances, self.train_cfg))
        return losses

    def predict(self, x: tuple[Tensor, ...], rpn_results_list: InstanceList,
                batch_data_samples: SampleList, rescale: bool = False) -> InstanceList:
        """Masks (and mask scores) for the given detections.

        Args:
            x (tuple[Tensor]): FPN maps.
            rpn_results_list (list[InstanceData]): Detections per image in resized-image
                pixels (``bboxes``, ``scores``, ``labels``).
            batch_data_samples (list[DetDataSample]): For the image metainfo.
            rescale (bool): Paste masks (and rescale boxes, in place) to the original image.

        Returns:
            list[InstanceData]: The same detections with ``masks`` (n, H, W) and, with mask
            scoring, ``mask_scores`` (n,); ``scores`` is left as it was.
        """
        batch_img_metas = [s.metainfo for s in batch_data_samples]
        return self.predict_mask(x, batch_img_metas, rpn_results_list, rescale=rescale)

    def predict_mask(self, x: tuple[Tensor, ...], batch_img_metas: list[dict],
                     results_list: InstanceList, rescale: bool = False) -> InstanceList:
        """See :meth:`predict`."""
        mask_rois = bbox2roi([res.bboxes for res in results_list])
        if mask_rois.shape[0] == 0:
            results_list = empty_instances(
                batch_img_metas, mask_rois.device, task_type="mask",
                instance_results=results_list, mask_thr_binary=self.test_cfg.mask_thr_binary)
            if self.with_mask_iou:
                for res in results_list:
                    res.mask_scores = res.scores.new_zeros((0,))
            return results_list
        mask_results = self._mask_forward(x, mask_rois, self._img_shapes(batch_img_metas))
        num_per_img = [len(res) for res in results_list]
        if self.with_mask_iou:
            labels = torch.cat([res.labels for res in results_list]).long()
            mask_iou = self._mask_iou(mask_results["mask_feats"], mask_results["mask_preds"],
                                      labels)
            for res, iou in zip(results_list, mask_iou.split(num_per_img), strict=True):
                res.mask_scores = res.scores * iou
        mask_preds = mask_results["mask_preds"].split(num_per_img, 0)
        return self.mask_head.predict_by_feat(
            mask_preds=mask_preds, results_list=results_list, batch_img_metas=batch_img_metas,
            rcnn_test_cfg=self.test_cfg, rescale=rescale)

    def predict_centermask2(self, x: tuple[Tensor, ...], rpn_results_list: InstanceList,
                            batch_data_samples: SampleList,
                            rescale: bool = False) -> InstanceList:
        """Masks (and mask scores) as centermask2 computes them (``postprocess='centermask2'``).

        The mask branch runs on the **unclipped** boxes (Eq. 2, RoIAlign, SAG-Mask,
        MaskIoU); then, per image, the boxes are scaled to the output size, clipped, the
        empty ones dropped, and each 28x28 mask is pasted into its clipped box
        (:func:`finalize_instances`).

        Args:
            x (tuple[Tensor]): FPN maps.
            rpn_results_list (list[InstanceData]): Unclipped detections per image in
                input pixels (``bboxes``, ``scores``, ``labels``); not modified.
            batch_data_samples (list[DetDataSample]): For ``img_shape`` / ``ori_shape``.
            rescale (bool): Output in original-image pixels (``ori_shape``).

        Returns:
            list[InstanceData]: ``bboxes`` (clipped), ``scores``, ``labels``, ``masks``
            (n, H, W) bool and, with mask scoring, ``mask_scores``; n may be smaller than
            the number of detections (empty boxes dropped).
        """
        batch_img_metas = [s.metainfo for s in batch_data_samples]
        thr = self.test_cfg.mask_thr_binary
        num_per_img = [len(res) for res in rpn_results_list]
        mask_rois = bbox2roi([res.bboxes for res in rpn_results_list])
        results_list = [res.clone() for res in rpn_results_list]
        if mask_rois.shape[0] > 0:
            mask_results = self._mask_forward(x, mask_rois, self._img_shapes(batch_img_metas))
            labels = torch.cat([res.labels for res in results_list]).long()
            idx = torch.arange(labels.numel(), device=labels.device)
            mask_probs = mask_results["mask_preds"][idx, labels].sigmoid()
            if self.with_mask_iou:
                mask_iou = self._mask_iou(mask_results["mask_feats"],
                                          mask_results["mask_preds"], labels)
                for res, iou in zip(results_list, mask_iou.split(num_per_img), strict=True):
                    res.mask_scores = res.scores * iou
            probs_per_img = mask_probs.split(num_per_img)
        else:
            probs_per_img = tuple(mask_rois.new_zeros((0, 28, 28)) for _ in num_per_img)
            if self.with_mask_iou:
                for res in results_list:
                    res.mask_scores = res.scores.new_zeros((0,))
        return [finalize_instances(res, probs, meta["img_shape"][:2],
                                   meta["ori_shape"][:2] if rescale else None, thr)
                for res, probs, meta in zip(results_list, probs_per_img, batch_img_metas,
                                            strict=True)]
