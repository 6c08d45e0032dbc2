"""SAIS prototype branch: mmdet's YOLACT protonet, made correct for padded batches.

The protonet (Fig. 1, green box) is an FCN on P3: three 3x3 convs, x2 bilinear
upsampling, a 3x3 conv and a final 1x1 conv to ``k`` channels, so the prototypes P
have stride 4. A location's mask is M = sigma(P C) (Eq. 1), cropped by its box: the
assigned GT box in training, the detected box at test. ``YOLACTProtonet`` already
builds this FCN, assembles the masks and computes YOLACT's box-area-normalised BCE;
this subclass changes three things:

* the semantic-segmentation auxiliary loss is optional and off by default (the paper
  trains "without additional semantic loss"); mmdet's ``loss_by_feat`` requires it;
* boxes are normalised by the padded batch shape, which is what the prototypes
  cover (mmdet normalises by the un-padded image shape, misplacing crops whenever a
  keep-ratio batch is padded);
* test masks drop the padded margin before they are resized to the original image.

Shape shorthand: ``N`` instances of one image, ``k`` prototypes, ``h x w`` the
prototype size (padded input / 4).
"""
from __future__ import annotations

import torch.nn.functional as F
from mmdet.models.dense_heads import YOLACTProtonet
from mmdet.registry import MODELS
from mmdet.utils import InstanceList
from torch import Tensor

__all__ = ['SAISProtonet']


@MODELS.register_module()
class SAISProtonet(YOLACTProtonet):
    """YOLACT protonet with SAIS defaults and padding-aware crops.

    Args:
        num_classes (int): Number of classes (used by the optional semantic branch).
        in_channels (int): Channels of P3. Defaults to 256.
        num_protos (int): Number of prototypes k; must equal ``SAISHead.num_protos``.
            Defaults to 32.
        proto_channels (tuple): Output channels of the protonet layers; the last one
            is set to ``num_protos``. Defaults to (256, 256, 256, None, 256, k).
        with_seg_branch (bool): Add YOLACT's semantic-segmentation loss.
            Defaults to False (the paper does not use it).
        **kwargs: Passed to ``YOLACTProtonet`` (``proto_kernel_sizes``,
            ``loss_mask_weight``, ``max_masks_to_train``, ...).

    Example:
        >>> head = SAISProtonet(num_classes=3, in_channels=8, num_protos=4,
        ...                     proto_channels=(8, None, 8, 4),
        ...                     proto_kernel_sizes=(3, -2, 3, 1))
    """

    def __init__(self, num_classes: int, in_channels: int = 256, num_protos: int = 32,
                 proto_channels: tuple | None = None, with_seg_branch: bool = False,
                 **kwargs) -> None:
        if proto_channels is None:
            proto_channels = (256, 256, 256, None, 256, num_protos)
        if proto_channels[-1] != num_protos:
            raise ValueError(
                f'SAISProtonet: the last of proto_channels={tuple(proto_channels)} must '
                f'equal num_protos={num_protos}')
        super().__init__(num_classes=num_classes, in_channels=in_channels,
                         num_protos=num_protos, proto_channels=tuple(proto_channels),
                         with_seg_branch=with_seg_branch, **kwargs)

    @staticmethod
    def _input_shape(img_meta: dict) -> tuple[int, int]:
        """(H, W) of the padded batch tensor the prototypes were computed on."""
        shape = img_meta.get('batch_input_shape', img_meta['img_shape'])
        return int(shape[0]), int(shape[1])

    def crop_mask_preds(self, mask_preds: list[Tensor], batch_img_metas: list[dict],
                        positive_infos: InstanceList) -> list[Tensor]:
        """Zero each mask outside its box.

        Args:
            mask_preds (list[Tensor]): Per image, (h, w, N) sigmoid masks.
            batch_img_metas (list[dict]): Image metas (``batch_input_shape``).
            positive_infos (list[InstanceData]): Per image, ``bboxes`` (N, 4) in
                input-image pixels.

        Returns:
            list[Tensor]: Per image, (N, h, w) cropped masks.
        """
        cropped = []
        for img_meta, masks, info in zip(batch_img_metas, mask_preds, positive_infos,
                                         strict=True):
            pad_h, pad_w = self._input_shape(img_meta)
            boxes = info.bboxes.detach() / info.bboxes.new_tensor([pad_w, pad_h, pad_w, pad_h])
            cropped.append(self.crop_single(masks, boxes).permute(2, 0, 1).contiguous())
        return cropped

    def loss_by_feat(self, mask_preds: list[Tensor], segm_preds: Tensor | None,
                     batch_gt_instances: InstanceList, batch_img_metas: list[dict],
                     positive_infos: InstanceList, **kwargs) -> dict[str, list[Tensor]]:
        """YOLACT mask loss (optionally with its semantic loss).

        Pixel BCE of each cropped mask against its GT mask at prototype size, averaged
        over pixels, divided by the GT box's area as a fraction of the image, summed,
        and divided by the number of positives of the batch.

        Args:
            mask_preds (list[Tensor]): Per image, (h, w, N) sigmoid masks.
            segm_preds (Tensor | None): (B, num_classes, h', w') semantic logits, or
                None without the semantic branch.
            batch_gt_instances (list[InstanceData]): ``bboxes``, ``labels`` and
                ``masks`` (padded to the batch shape by ``BaseMaskHead.loss``).
            batch_img_metas (list[dict]): Image metas.
            positive_infos (list[InstanceData]): From ``SAISHead.get_positive_infos``.

        Returns:
            dict[str, list[Tensor]]: ``loss_mask`` (and ``loss_segm``), one per image.
        """
        if positive_infos is None:
            raise ValueError('SAISProtonet.loss_by_feat needs positive_infos from SAISHead')
        cropped = self.crop_mask_preds(mask_preds, batch_img_metas, positive_infos)
        loss_mask, loss_segm = [], []
        total_pos = 0
        for img, img_meta in enumerate(batch_img_metas):
            segm_pred = segm_preds[img] if segm_preds is not None else None
            masks, targets, segm_targets, num_pos, gt_boxes = self._get_targets_single(
                cropped[img], segm_pred, batch_gt_instances[img], positive_infos[img])
            if self.with_seg_branch:
                if segm_targets is None:
                    loss_segm.append(segm_pred.sum() * 0.)
                else:
                    _, h, w = segm_pred.shape
                    loss_segm.append(self.loss_segm(
                        segm_pred, segm_targets, avg_factor=len(batch_img_metas) * h * w))
            total_pos += num_pos
            if num_pos == 0 or targets is None:
                loss_mask.append(masks.sum() * 0.)
                continue
            bce = F.binary_cross_entropy(masks.clamp(0, 1), targets, reduction='none')
            img_h, img_w = img_meta['img_shape'][:2]
            box_frac = ((gt_boxes[:, 2] - gt_boxes[:, 0]) / img_w) * (
                (gt_boxes[:, 3] - gt_boxes[:, 1]) / img_h)
            loss_mask.append(
                (bce.mean(dim=(1, 2)) / box_frac.clamp(min=1e-6)).sum() * self.loss_mask_weight)
        total_pos = max(total_pos, 1)
        losses = dict(loss_mask=[loss / total_pos for loss in loss_mask])
        if self.with_seg_branch:
            losses['loss_segm'] = loss_segm
        return losses

    def _predict_by_feat_single(self, mask_preds: Tensor, bboxes: Tensor, img_meta: dict,
                                rescale: bool, cfg: dict | None = None) -> Tensor:
        """Binary masks of one image's detections.

        Args:
            mask_preds (Tensor): (N, h, w) cropped sigmoid masks over the padded input.
            bboxes (Tensor): (N, 4) detected boxes in input pixels; divided in place by
                the scale factor when ``rescale`` (as mmdet's YOLACT does), so the
                returned instances carry original-image boxes.
            img_meta (dict): Image meta.
            rescale (bool): Masks at the original image size (else the input size).
            cfg (dict, optional): Test config with ``mask_thr``. Defaults to test_cfg.

        Returns:
            Tensor: Bool (N, H, W) masks.
        """
        cfg = self.test_cfg if cfg is None else cfg
        pad_h, pad_w = self._input_shape(img_meta)
        img_h, img_w = (int(s) for s in img_meta['img_shape'][:2])
        masks = mask_preds[None]
        if (img_h, img_w) != (pad_h, pad_w):
            # Drop the padded margin before any resize to the image size.
            masks = F.interpolate(masks, (pad_h, pad_w), mode='bilinear',
                                  align_corners=False)[..., :img_h, :img_w]
        if rescale:
            out_h, out_w = (int(s) for s in img_meta['ori_shape'][:2])
            scale_factor = bboxes.new_tensor(img_meta['scale_factor']).repeat(2)
            bboxes /= scale_factor
        else:
            out_h, out_w = img_h, img_w
        if masks.shape[-2:] != (out_h, out_w):
            masks = F.interpolate(masks, (out_h, out_w), mode='bilinear', align_corners=False)
        return masks[0] > cfg.get('mask_thr', 0.5)

    def forward(self, x: tuple[Tensor, ...],
                positive_infos: InstanceList) -> tuple[list[Tensor], Tensor | None]:
        """Prototypes of ``x[0]`` (P3) combined with each instance's coefficients.

        Args:
            x (tuple[Tensor]): FPN features; only ``x[0]`` (B, C, H/8, W/8) is used.
            positive_infos (list[InstanceData]): Per image, ``coeffs`` (N, k).

        Returns:
            tuple: per image (h, w, N) masks sigma(P C), and the semantic logits (or
            None).
        """
        for info in positive_infos:
            if info.coeffs.size(-1) != self.num_protos:
                raise ValueError(
                    f'SAISProtonet: coefficients have {info.coeffs.size(-1)} channels but '
                    f'num_protos={self.num_protos}; set the same k in bbox_head and mask_head')
        return super().forward(x, positive_infos)

