"""SAIS detection head: FCOS plus per-location mask coefficients (SAIS paper, Sec. III-A).

Each FCOS location predicts, besides c class scores, 1 centre score and 4 distances,
``k`` mask coefficients C (Fig. 1, yellow box). The paper fuses the two towers first:
C = tanh(conv3x3(cls_feat + reg_feat)) ("sum"); the released code uses the
classification tower alone ("cls"). The coefficients of the positive locations go to
``SAISProtonet``, which forms the instance masks sigma(P C).

Targets are FCOS's, with SAIS's center-aware choice among ambiguous boxes when
``center_aware`` (inherited from :class:`CenterAwareFCOSHead`).

Shape shorthand: ``B`` images, ``k`` prototypes, ``P`` points of all levels of one
image, ``N`` positive (training) or detected (test) locations of one image.
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
from mmcv.cnn import Scale
from mmdet.models.dense_heads.anchor_free_head import AnchorFreeHead
from mmdet.models.utils import filter_scores_and_topk, select_single_mlvl
from mmdet.registry import MODELS
from mmdet.structures.bbox import cat_boxes
from mmdet.utils import InstanceList, OptInstanceList
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor

from .center_aware_fcos_head import CenterAwareFCOSHead

__all__ = ['SAISHead']

COEFF_SOURCES = ('sum', 'cls')


@MODELS.register_module()
class SAISHead(CenterAwareFCOSHead):
    """FCOS head with SAIS mask coefficients and center-aware targets.

    Args:
        num_protos (int): Number of prototypes k (coefficients per location).
            Defaults to 32 (the paper's setting).
        coeff_source (str): Features the coefficient conv reads: ``'sum'`` of the
            classification and regression tower outputs (paper, Table III "w/"), or
            ``'cls'``, the classification tower only (Table III "w/o"; released code).
            Defaults to ``'sum'``.
        center_aware (bool): SAIS center-aware targets (Eqs. 2-4) instead of FCOS's
            smallest-area rule. Defaults to True.
        *args, **kwargs: Passed to ``FCOSHead``.

    Example:
        >>> head = SAISHead(num_classes=3, in_channels=8, feat_channels=8,
        ...                 stacked_convs=1, norm_cfg=None, num_protos=4)
        >>> feats = [torch.rand(2, 8, s, s) for s in (16, 8, 4, 2, 1)]
        >>> cls, box, ctr, coeff = head(feats)
        >>> coeff[0].shape
        torch.Size([2, 4, 16, 16])
    """

    def __init__(self, *args, num_protos: int = 32, coeff_source: str = 'sum',
                 center_aware: bool = True, **kwargs) -> None:
        if coeff_source not in COEFF_SOURCES:
            raise ValueError(
                f'SAISHead: coeff_source must be one of {COEFF_SOURCES}, got {coeff_source!r}')
        if not isinstance(num_protos, int) or num_protos < 1:
            raise ValueError(f'SAISHead: num_protos must be a positive int, got {num_protos!r}')
        self.num_protos = num_protos
        self.coeff_source = coeff_source
        super().__init__(*args, center_aware=center_aware, **kwargs)

    def _init_layers(self) -> None:
        """FCOS layers plus the coefficient predictor (a 3x3 conv, like the others)."""
        super()._init_layers()
        self.conv_coeff = nn.Conv2d(self.feat_channels, self.num_protos, 3, padding=1)

    def forward_single(self, x: Tensor, scale: Scale,
                       stride: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Forward one FPN level.

        Args:
            x (Tensor): (B, C, H, W) features of the level.
            scale (Scale): The level's learnable box scale.
            stride (int): The level's stride.

        Returns:
            tuple[Tensor, Tensor, Tensor, Tensor]: class logits (B, num_classes, H, W),
            box distances (B, 4, H, W), centre logits (B, 1, H, W) and mask
            coefficients in [-1, 1], (B, k, H, W).
        """
        # FCOSHead.forward_single drops the tower features the coefficients need, so
        # its few lines are repeated here on top of the shared towers.
        cls_score, bbox_pred, cls_feat, reg_feat = AnchorFreeHead.forward_single(self, x)
        centerness = self.conv_centerness(reg_feat if self.centerness_on_reg else cls_feat)
        bbox_pred = scale(bbox_pred).float()
        if self.norm_on_bbox:
            bbox_pred = bbox_pred.clamp(min=0)
            if not self.training:
                bbox_pred = bbox_pred * stride
        else:
            bbox_pred = bbox_pred.exp()
        coeff_feat = cls_feat + reg_feat if self.coeff_source == 'sum' else cls_feat
        coeff_pred = torch.tanh(self.conv_coeff(coeff_feat))
        return cls_score, bbox_pred, centerness, coeff_pred

    # ----------------------------------------------------------------- training
    def loss_by_feat(self, cls_scores: list[Tensor], bbox_preds: list[Tensor],
                     centernesses: list[Tensor], coeff_preds: list[Tensor],
                     batch_gt_instances: InstanceList, batch_img_metas: list[dict],
                     batch_gt_instances_ignore: OptInstanceList = None) -> dict[str, Tensor]:
        """FCOS losses; also records the positives for :meth:`get_positive_infos`.

        Args:
            cls_scores, bbox_preds, centernesses (list[Tensor]): FCOS outputs per level.
            coeff_preds (list[Tensor]): (B, k, H, W) coefficients per level.
            batch_gt_instances (list[InstanceData]): ``bboxes``, ``labels`` per image.
            batch_img_metas (list[dict]): Image metas.
            batch_gt_instances_ignore (list[InstanceData], optional): Unused by FCOS.

        Returns:
            dict[str, Tensor]: ``loss_cls``, ``loss_bbox``, ``loss_centerness``.
        """
        # FCOSHead.get_targets calls _get_targets_single once per image, in order;
        # the override below collects each image's GT indices here.
        self._gt_inds_per_img: list[Tensor] = []
        losses = super().loss_by_feat(cls_scores, bbox_preds, centernesses,
                                      batch_gt_instances, batch_img_metas,
                                      batch_gt_instances_ignore)
        gt_inds = self._gt_inds_per_img
        del self._gt_inds_per_img
        self._raw_positive_infos.update(
            coeff_preds=coeff_preds, gt_inds=gt_inds,
            gt_bboxes=[g.bboxes for g in batch_gt_instances])
        return losses

    def _get_targets_single(self, gt_instances: InstanceData, points: Tensor,
                            regress_ranges: Tensor,
                            num_points_per_lvl: list[int]) -> tuple[Tensor, Tensor]:
        """FCOS targets of one image; keeps the assigned GT index of every point."""
        labels, bbox_targets, gt_inds = self._assign_single(
            gt_instances, points, regress_ranges, num_points_per_lvl)
        if hasattr(self, '_gt_inds_per_img'):
            self._gt_inds_per_img.append(gt_inds)
        return labels, bbox_targets

    def get_positive_infos(self) -> InstanceList:
        """Positive locations of the last :meth:`loss_by_feat`, per image.

        Returns:
            list[InstanceData]: per image, with ``coeffs`` (N, k),
            ``pos_assigned_gt_inds`` (N,), ``pos_inds`` (N,) into the image's points of
            all levels, and ``bboxes`` (N, 4), the assigned GT boxes (SAIS crops the
            training masks with them).
        """
        if not self._raw_positive_infos:
            raise RuntimeError('SAISHead.get_positive_infos called before loss_by_feat')
        coeff_preds = self._raw_positive_infos['coeff_preds']
        num_imgs = coeff_preds[0].size(0)
        flat_coeffs = torch.cat([
            c.permute(0, 2, 3, 1).reshape(num_imgs, -1, self.num_protos) for c in coeff_preds
        ], dim=1)
        infos = []
        for img, (gt_inds, gt_bboxes) in enumerate(
                zip(self._raw_positive_infos['gt_inds'],
                    self._raw_positive_infos['gt_bboxes'], strict=True)):
            pos_inds = torch.nonzero(gt_inds >= 0, as_tuple=False).reshape(-1)
            assigned = gt_inds[pos_inds]
            info = InstanceData()
            info.coeffs = flat_coeffs[img, pos_inds]
            info.pos_assigned_gt_inds = assigned
            info.pos_inds = pos_inds
            info.bboxes = gt_bboxes[assigned]
            infos.append(info)
        return infos

    # ---------------------------------------------------------------- inference
    def predict_by_feat(self, cls_scores: list[Tensor], bbox_preds: list[Tensor],
                        score_factors: list[Tensor] | None = None,
                        coeff_preds: list[Tensor] | None = None,
                        batch_img_metas: list[dict] | None = None,
                        cfg: ConfigDict | None = None, rescale: bool = False,
                        with_nms: bool = True) -> InstanceList:
        """Detections with their mask coefficients, per image.

        Args:
            cls_scores, bbox_preds, score_factors (list[Tensor]): FCOS outputs per level
                (``score_factors`` are the centre logits).
            coeff_preds (list[Tensor]): (B, k, H, W) coefficients per level.
            batch_img_metas (list[dict]): Image metas.
            cfg (ConfigDict, optional): Test config; ``self.test_cfg`` when None.
            rescale (bool): Boxes in original-image coordinates. Defaults to False.
            with_nms (bool): Apply NMS. Defaults to True.

        Returns:
            list[InstanceData]: ``bboxes`` (N, 4), ``scores`` (N,), ``labels`` (N,)
            and ``coeffs`` (N, k) per image, kept together through NMS.
        """
        if coeff_preds is None or score_factors is None or batch_img_metas is None:
            raise ValueError('SAISHead.predict_by_feat needs centerness, coefficients '
                             'and image metas')
        featmap_sizes = [c.shape[-2:] for c in cls_scores]
        mlvl_points = self.prior_generator.grid_priors(
            featmap_sizes, dtype=cls_scores[0].dtype, device=cls_scores[0].device)
        results = []
        for img, img_meta in enumerate(batch_img_metas):
            results.append(self._predict_by_feat_single(
                select_single_mlvl(cls_scores, img), select_single_mlvl(bbox_preds, img),
                select_single_mlvl(score_factors, img), select_single_mlvl(coeff_preds, img),
                mlvl_points, img_meta, cfg, rescale=rescale, with_nms=with_nms))
        return results

    def _predict_by_feat_single(self, cls_score_list: list[Tensor],
                                bbox_pred_list: list[Tensor],
                                score_factor_list: list[Tensor],
                                coeff_pred_list: list[Tensor], mlvl_points: list[Tensor],
                                img_meta: dict, cfg: ConfigDict | None,
                                rescale: bool = False, with_nms: bool = True) -> InstanceData:
        """Decode one image: per-level score filter and top-k, then mmdet's
        ``_bbox_post_process`` (rescale, score x centreness, NMS, max_per_img), which
        indexes every field of the InstanceData, so coefficients follow their boxes.
        """
        cfg = copy.deepcopy(self.test_cfg if cfg is None else cfg)
        nms_pre = cfg.get('nms_pre', -1)
        score_thr = cfg.get('score_thr', 0)
        mlvl = dict(bbox_pred=[], points=[], coeffs=[], scores=[], labels=[], factors=[])
        for cls_score, bbox_pred, ctr, coeff, points in zip(
                cls_score_list, bbox_pred_list, score_factor_list, coeff_pred_list,
                mlvl_points, strict=True):
            scores = cls_score.permute(1, 2, 0).reshape(-1, self.cls_out_channels).sigmoid()
            scores, labels, keep, kept = filter_scores_and_topk(
                scores, score_thr, nms_pre,
                dict(bbox_pred=bbox_pred.permute(1, 2, 0).reshape(-1, 4),
                     coeffs=coeff.permute(1, 2, 0).reshape(-1, self.num_protos),
                     points=points))
            mlvl['bbox_pred'].append(kept['bbox_pred'])
            mlvl['points'].append(kept['points'])
            mlvl['coeffs'].append(kept['coeffs'])
            mlvl['scores'].append(scores)
            mlvl['labels'].append(labels)
            mlvl['factors'].append(ctr.permute(1, 2, 0).reshape(-1).sigmoid()[keep])

        results = InstanceData()
        results.bboxes = self.bbox_coder.decode(
            cat_boxes(mlvl['points']), torch.cat(mlvl['bbox_pred']),
            max_shape=img_meta['img_shape'])
        results.scores = torch.cat(mlvl['scores'])
        results.labels = torch.cat(mlvl['labels'])
        results.coeffs = torch.cat(mlvl['coeffs'])
        results.score_factors = torch.cat(mlvl['factors'])
        return self._bbox_post_process(results, cfg, rescale=rescale, with_nms=with_nms,
                                       img_meta=img_meta)
