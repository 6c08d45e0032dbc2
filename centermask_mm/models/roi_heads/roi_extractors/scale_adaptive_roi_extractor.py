"""Scale-adaptive RoI extractor of CenterMask (paper Eq. 2), with FPN's Eq. 1 as a switch.

Eq. 2 assigns an RoI to pyramid level

    k = ceil(k_max - log2(A_input / A_RoI)),   clamped to [k_min, k_max],

where A_input is the area of the *resized, un-padded* input image the RoI lives in
(``img_shape`` in mmdet's metainfo) and k_min / k_max are the finest / coarsest pooled
levels (P3 / P5 by default, paper Table 2). With P3-P5: RoIs larger than half the image go
to P5, those in (A/4, A/2] to P4, the rest to P3.

Eq. 1 (FPN) is ``k = floor(k0 + log2(sqrt(wh) / 224))`` with k0 = 4, clamped the same way.
mmdet's stock ``SingleRoIExtractor`` is Eq. 1 only when its level 0 is P2, which is why the
level rule is written out here for an arbitrary pooled range.

The stock ``forward`` receives no image metadata, so this extractor takes the image shapes
as an explicit ``img_shapes`` argument (one ``(h, w)`` per image, indexed by ``rois[:, 0]``).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptMultiConfig
from torch import Tensor

#: Names of the level-assignment rules accepted by ``assign``.
ASSIGN_RULES: tuple[str, ...] = ("eq2", "eq1")


@MODELS.register_module()
class ScaleAdaptiveRoIExtractor(SingleRoIExtractor):
    """RoIAlign on a pyramid with CenterMask's Eq. 2 (or FPN's Eq. 1) level assignment.

    Args:
        roi_layer (ConfigType): mmcv RoI layer, e.g.
            ``dict(type='RoIAlign', output_size=14, sampling_ratio=0, aligned=True)``.
        out_channels (int): Channels of the pyramid features (FPN ``out_channels``).
        featmap_strides (Sequence[int]): Strides of the pooled levels, finest first; the
            pooled level range of paper Table 2, e.g. ``[8, 16, 32]`` for P3-P5. They must
            be consecutive powers of two.
        assign (str): ``'eq2'`` (CenterMask, default) or ``'eq1'`` (FPN).
        canonical_scale (float): Eq. 1's canonical ImageNet size. Defaults to 224.
        canonical_level (int): Eq. 1's k0. Defaults to 4.
        eps (float): Lower bound on RoI areas inside the logarithms. Defaults to 1e-6.
        init_cfg (OptMultiConfig): Initialisation config. Defaults to None.

    Shape shorthand: N = number of RoIs, L = pooled levels, C = channels, S = output size.
    """

    def __init__(self,
                 roi_layer: ConfigType,
                 out_channels: int,
                 featmap_strides: Sequence[int],
                 assign: str = "eq2",
                 canonical_scale: float = 224.0,
                 canonical_level: int = 4,
                 eps: float = 1e-6,
                 init_cfg: OptMultiConfig = None) -> None:
        strides = [int(s) for s in featmap_strides]
        if not strides:
            raise ValueError("ScaleAdaptiveRoIExtractor: 'featmap_strides' is empty")
        levels = [math.log2(s) for s in strides]
        if any(lv != int(lv) for lv in levels) or any(
                b - a != 1 for a, b in zip(levels, levels[1:], strict=False)):
            raise ValueError(
                "ScaleAdaptiveRoIExtractor: 'featmap_strides' must be consecutive powers of two "
                f"(a contiguous level range such as [8, 16, 32] for P3-P5), got {strides}")
        if assign not in ASSIGN_RULES:
            raise ValueError(
                f"ScaleAdaptiveRoIExtractor: 'assign' must be one of {ASSIGN_RULES}, "
                f"got {assign!r}")
        super().__init__(roi_layer=roi_layer, out_channels=out_channels,
                         featmap_strides=strides, init_cfg=init_cfg)
        self.assign = assign
        self.canonical_scale = float(canonical_scale)
        self.canonical_level = int(canonical_level)
        self.eps = float(eps)
        self.k_min = int(levels[0])
        self.k_max = int(levels[-1])

    def map_roi_levels(self, rois: Tensor, num_levels: int,
                       img_areas: Tensor | None = None) -> Tensor:
        """Assign each RoI to a pooled level.

        Args:
            rois (Tensor): (N, 5) as ``(batch_idx, x1, y1, x2, y2)`` in input-image pixels.
            num_levels (int): Number of pooled levels L (must equal ``len(featmap_strides)``).
            img_areas (Tensor, optional): (N,) area of the resized, un-padded image each RoI
                belongs to. Required by Eq. 2.

        Returns:
            Tensor: (N,) long level index in ``[0, L)``; 0 is the finest pooled level.
        """
        if num_levels != self.k_max - self.k_min + 1:
            raise ValueError(
                f"ScaleAdaptiveRoIExtractor: got {num_levels} feature maps for "
                f"featmap_strides={self.featmap_strides}")
        w = (rois[:, 3] - rois[:, 1]).clamp(min=0)
        h = (rois[:, 4] - rois[:, 2]).clamp(min=0)
        area = (w * h).clamp(min=self.eps)
        if self.assign == "eq1":
            k = torch.floor(self.canonical_level + torch.log2(area.sqrt() / self.canonical_scale))
        else:
            if img_areas is None:
                raise ValueError(
                    "ScaleAdaptiveRoIExtractor(assign='eq2') needs the image shapes: call it "
                    "with img_shapes=[(h, w), ...] (the resized, un-padded 'img_shape' of each "
                    "image)")
            k = torch.ceil(self.k_max - torch.log2(img_areas.to(area) / area))
        k = k.clamp(min=self.k_min, max=self.k_max)
        return (k - self.k_min).long()

    def forward(self,
                feats: tuple[Tensor, ...],
                rois: Tensor,
                roi_scale_factor: float | None = None,
                img_shapes: Sequence[Sequence[int]] | None = None) -> Tensor:
        """Pool RoI features.

        Args:
            feats (tuple[Tensor]): L maps (B, C, H_l, W_l), finest first, matching
                ``featmap_strides``.
            rois (Tensor): (N, 5) RoIs ``(batch_idx, x1, y1, x2, y2)``.
            roi_scale_factor (float, optional): Enlarge RoIs about their centres before
                pooling (the level is chosen on the original box).
            img_shapes (Sequence[(h, w)], optional): Resized, un-padded shape of every image
                in the batch. Required for Eq. 2.

        Returns:
            Tensor: (N, C, S, S) pooled features.
        """
        feats = tuple(feats[:self.num_inputs])
        out_size = self.roi_layers[0].output_size
        roi_feats = feats[0].new_zeros(rois.size(0), self.out_channels, *out_size)
        img_areas = None
        if img_shapes is not None:
            areas = rois.new_tensor([float(s[0]) * float(s[1]) for s in img_shapes])
            img_areas = areas[rois[:, 0].long()] if rois.numel() else areas.new_zeros(0)
        target_lvls = self.map_roi_levels(rois, len(feats), img_areas)
        if roi_scale_factor is not None:
            rois = self.roi_rescale(rois, roi_scale_factor)
        for i, feat in enumerate(feats):
            inds = (target_lvls == i).nonzero(as_tuple=False).squeeze(1)
            if inds.numel() > 0:
                roi_feats[inds] = self.roi_layers[i](feat, rois[inds])
            elif torch.is_grad_enabled():
                # Keep every level in the graph so distributed training sees it used;
                # at inference the dummy term is pure cost.
                roi_feats = roi_feats + feat.sum() * 0.0
        return roi_feats
