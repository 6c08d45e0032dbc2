"""FCOS head with SAIS's center-aware ground truth (SAIS paper, Sec. III-B, Eqs. 2-4).

FCOS resolves an *ambiguous* location (one that is a positive candidate for several
ground-truth boxes) by choosing the box with the smallest area. When a small object
covers the centre of a large one, the large object then loses the locations around
its own centre (SAIS Fig. 2, top right). SAIS instead sorts the candidates by area
(Eq. 2), scores each with the FCOS centre score of the location inside that box
(Eq. 3), and assigns the location to the candidate with the largest score (Eq. 4);
ties go to the smaller box because of the sort.

Which boxes are candidates of a location is unchanged from FCOS: inside the box (or
its centre-sampling region) and inside the level's regression range. Only the
tie-break between candidates changes, so the assignment is usable by any FCOS-style
head; ``SAISHead`` inherits it from this class.

Shape shorthand: ``P`` points of all levels of one image, ``G`` ground-truth boxes.
"""
from __future__ import annotations

import torch
from mmdet.models.dense_heads import FCOSHead
from mmdet.registry import MODELS
from mmengine.structures import InstanceData
from torch import Tensor

__all__ = [
    'CenterAwareFCOSHead', 'assign_by_center_score', 'assign_by_min_area', 'center_score'
]

# Marks "no candidate" in score matrices; every real centre score lies in [0, 1].
_NOT_CANDIDATE = -1.0


def center_score(bbox_targets: Tensor) -> Tensor:
    """FCOS centre score of locations inside boxes (SAIS Eq. 3).

    Args:
        bbox_targets (Tensor): Distances (l, t, r, b) from locations to box sides,
            shape (..., 4).

    Returns:
        Tensor: sqrt(min(l, r) / max(l, r) * min(t, b) / max(t, b)), shape (...).
        Locations outside a box get 0 (their ratios are clamped at 0).
    """
    lr = bbox_targets[..., 0::2]
    tb = bbox_targets[..., 1::2]
    ratio_lr = lr.min(-1).values / lr.max(-1).values.clamp(min=1e-12)
    ratio_tb = tb.min(-1).values / tb.max(-1).values.clamp(min=1e-12)
    return (ratio_lr.clamp(min=0) * ratio_tb.clamp(min=0)).sqrt()


def assign_by_min_area(candidates: Tensor, areas: Tensor) -> Tensor:
    """FCOS rule: each location takes its candidate box with the smallest area.

    Args:
        candidates (Tensor): Bool (P, G), True where box g is a candidate of point p.
        areas (Tensor): Box areas, shape (G,).

    Returns:
        Tensor: Long (P,), the assigned box index, or -1 for negatives. Ties go to
        the lower index, as in mmdet's ``FCOSHead``.
    """
    if candidates.size(1) == 0:
        return candidates.new_full((candidates.size(0),), -1, dtype=torch.long)
    masked = torch.where(candidates, areas[None].expand_as(candidates),
                         areas.new_tensor(float('inf')))
    min_area, inds = masked.min(dim=1)
    return torch.where(torch.isinf(min_area), inds.new_tensor(-1), inds)


def assign_by_center_score(candidates: Tensor, bbox_targets: Tensor, areas: Tensor) -> Tensor:
    """SAIS center-aware rule (Eqs. 2-4): the candidate with the largest centre score.

    Args:
        candidates (Tensor): Bool (P, G), True where box g is a candidate of point p.
        bbox_targets (Tensor): (l, t, r, b) of every point to every box, (P, G, 4).
        areas (Tensor): Box areas, shape (G,).

    Returns:
        Tensor: Long (P,), the assigned box index, or -1 for negatives. Among equal
        centre scores the smaller box wins (Eq. 2 sorts small to large first).
    """
    num_points, num_gts = candidates.shape
    if num_gts == 0:
        return candidates.new_full((num_points,), -1, dtype=torch.long)
    # Eq. 2: a stable sort keeps the original order among equal areas.
    order = torch.sort(areas, stable=True).indices
    scores = center_score(bbox_targets[:, order])
    scores = torch.where(candidates[:, order], scores, scores.new_tensor(_NOT_CANDIDATE))
    # Eq. 4; argmax returns the first maximum, i.e. the smallest box among ties.
    best_score, best_sorted = scores.max(dim=1)
    inds = order[best_sorted]
    return torch.where(best_score > _NOT_CANDIDATE, inds, inds.new_tensor(-1))


@MODELS.register_module()
class CenterAwareFCOSHead(FCOSHead):
    """FCOS head whose ambiguous locations follow SAIS's center-aware ground truth.

    Everything except the choice between candidate boxes is mmdet's ``FCOSHead``.

    Args:
        center_aware (bool): Use SAIS Eqs. 2-4 to choose among candidate boxes.
            False reproduces ``FCOSHead`` exactly (smallest area wins).
            Defaults to True.
        *args, **kwargs: Passed to ``FCOSHead``.

    Example:
        >>> head = CenterAwareFCOSHead(num_classes=3, in_channels=8, feat_channels=8,
        ...                            stacked_convs=1, norm_cfg=None)
        >>> cls, box, ctr = head([torch.rand(1, 8, s, s) for s in (16, 8, 4, 2, 1)])
    """

    def __init__(self, *args, center_aware: bool = True, **kwargs) -> None:
        self.center_aware = center_aware
        super().__init__(*args, **kwargs)

    def _candidates(self, gt_bboxes: Tensor, points: Tensor, regress_ranges: Tensor,
                    num_points_per_lvl: list[int]) -> tuple[Tensor, Tensor]:
        """FCOS positive-candidate test of every point against every box.

        Args:
            gt_bboxes (Tensor): (G, 4) boxes (x1, y1, x2, y2).
            points (Tensor): (P, 2) point coordinates (x, y) of all levels.
            regress_ranges (Tensor): (P, 2) regression range of each point's level.
            num_points_per_lvl (list[int]): Points per level, summing to P.

        Returns:
            tuple[Tensor, Tensor]: ``bbox_targets`` (P, G, 4) as (l, t, r, b) and
            ``candidates`` (P, G) bool: inside the box (or its centre-sampling region
            when ``center_sampling``) and inside the point's regression range.
        """
        xs, ys = points[:, 0, None], points[:, 1, None]
        x1, y1, x2, y2 = (gt_bboxes[None, :, i] for i in range(4))
        bbox_targets = torch.stack((xs - x1, ys - y1, x2 - xs, y2 - ys), dim=-1)

        if self.center_sampling:
            # The sampling region is a square of radius * stride around the box centre,
            # clipped to the box.
            radius = torch.cat([
                points.new_full((n, 1), self.strides[lvl] * self.center_sample_radius)
                for lvl, n in enumerate(num_points_per_lvl)
            ])
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            region = torch.stack((
                xs - torch.maximum(cx - radius, x1),
                ys - torch.maximum(cy - radius, y1),
                torch.minimum(cx + radius, x2) - xs,
                torch.minimum(cy + radius, y2) - ys,
            ), dim=-1)
            inside = region.min(dim=-1).values > 0
        else:
            inside = bbox_targets.min(dim=-1).values > 0

        max_dist = bbox_targets.max(dim=-1).values
        in_range = (max_dist >= regress_ranges[:, 0, None]) & (
            max_dist <= regress_ranges[:, 1, None])
        return bbox_targets, inside & in_range

    def _assign_single(self, gt_instances: InstanceData, points: Tensor,
                       regress_ranges: Tensor,
                       num_points_per_lvl: list[int]) -> tuple[Tensor, Tensor, Tensor]:
        """Assign every point of one image to a ground-truth box or background.

        Args:
            gt_instances (InstanceData): ``bboxes`` (G, 4) and ``labels`` (G,).
            points (Tensor): (P, 2) points of all levels.
            regress_ranges (Tensor): (P, 2) regression range per point.
            num_points_per_lvl (list[int]): Points per level.

        Returns:
            tuple[Tensor, Tensor, Tensor]: ``labels`` (P,) with ``num_classes`` for
            background, ``bbox_targets`` (P, 4) as (l, t, r, b) in pixels (zeros for
            background) and ``gt_inds`` (P,) long, the assigned box or -1.
        """
        num_points = points.size(0)
        gt_bboxes = gt_instances.bboxes
        gt_labels = gt_instances.labels
        if len(gt_instances) == 0:
            return (gt_labels.new_full((num_points,), self.num_classes),
                    gt_bboxes.new_zeros((num_points, 4)),
                    gt_labels.new_full((num_points,), -1, dtype=torch.long))

        bbox_targets, candidates = self._candidates(gt_bboxes, points, regress_ranges,
                                                    num_points_per_lvl)
        areas = (gt_bboxes[:, 2] - gt_bboxes[:, 0]) * (gt_bboxes[:, 3] - gt_bboxes[:, 1])
        if self.center_aware:
            gt_inds = assign_by_center_score(candidates, bbox_targets, areas)
        else:
            gt_inds = assign_by_min_area(candidates, areas)

        pos = gt_inds >= 0
        safe_inds = gt_inds.clamp(min=0)
        labels = torch.where(pos, gt_labels[safe_inds], gt_labels.new_tensor(self.num_classes))
        # Background points keep the targets of box 0, as FCOSHead does; they are
        # never used because losses only read positive points.
        bbox_targets = bbox_targets[torch.arange(num_points, device=points.device), safe_inds]
        return labels, bbox_targets, gt_inds

    def _get_targets_single(self, gt_instances: InstanceData, points: Tensor,
                            regress_ranges: Tensor,
                            num_points_per_lvl: list[int]) -> tuple[Tensor, Tensor]:
        """Labels (P,) and (l, t, r, b) targets (P, 4) of one image (FCOSHead contract)."""
        labels, bbox_targets, _ = self._assign_single(gt_instances, points, regress_ranges,
                                                      num_points_per_lvl)
        return labels, bbox_targets
