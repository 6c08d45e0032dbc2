"""Center-aware ground truth (SAIS Eqs. 2-4) against FCOS's smallest-area rule."""
from __future__ import annotations

import math

import pytest
import torch
from mmdet.models.dense_heads import FCOSHead
from mmengine.structures import InstanceData

from centermask_mm.models.dense_heads import CenterAwareFCOSHead
from centermask_mm.models.dense_heads.center_aware_fcos_head import (
    assign_by_center_score,
    assign_by_min_area,
    center_score,
)

INF = 1e8


def _head(cls=CenterAwareFCOSHead, **kwargs):
    return cls(num_classes=3, in_channels=4, feat_channels=4, stacked_convs=1, norm_cfg=None,
               **kwargs)


def _gts(boxes: list[list[float]], labels: list[int] | None = None) -> InstanceData:
    gt = InstanceData()
    gt.bboxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    gt.labels = torch.tensor(labels if labels is not None else list(range(len(boxes))))
    return gt


def _one_level(points: list[list[float]]) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    pts = torch.tensor(points, dtype=torch.float32)
    ranges = pts.new_tensor([[-1, INF]]).expand(len(pts), 2)
    return pts, ranges, [len(pts)]


# Paper Fig. 2: object 2 (small) covers the centre of object 1 (large).
LARGE = [0., 0., 128., 128.]   # centre (64, 64)
SMALL = [56., 48., 104., 96.]  # centre (80, 72), contains (64, 64)


def test_center_score_matches_eq3() -> None:
    # l, t, r, b = 8, 16, 40, 32: sqrt(8/40 * 16/32) = sqrt(0.1)
    assert center_score(torch.tensor([8., 16., 40., 32.])).item() == pytest.approx(
        math.sqrt(0.1))
    assert center_score(torch.tensor([5., 5., 5., 5.])).item() == pytest.approx(1.0)
    assert center_score(torch.tensor([-1., 5., 5., 5.])).item() == 0.0


def test_small_object_over_large_center_keeps_large_center() -> None:
    points, ranges, per_lvl = _one_level([[64, 64], [80, 72], [8, 8]])
    gts = _gts([LARGE, SMALL], labels=[1, 2])
    labels, bbox_targets, gt_inds = _head(center_aware=True)._assign_single(
        gts, points, ranges, per_lvl)
    # (64, 64): centre score 1 in the large box vs sqrt(0.1) in the small one.
    assert gt_inds.tolist() == [0, 1, 0]
    assert labels.tolist() == [1, 2, 1]
    torch.testing.assert_close(bbox_targets[0], torch.tensor([64., 64., 64., 64.]))
    torch.testing.assert_close(bbox_targets[1], torch.tensor([24., 24., 24., 24.]))


def test_fcos_min_area_rule_gives_large_center_to_small_object() -> None:
    points, ranges, per_lvl = _one_level([[64, 64], [80, 72], [8, 8]])
    gts = _gts([LARGE, SMALL], labels=[1, 2])
    ours, _, gt_inds = _head(center_aware=False)._assign_single(gts, points, ranges, per_lvl)
    fcos, _ = _head(FCOSHead)._get_targets_single(gts, points, ranges, per_lvl)
    # Fig. 2 top right: the location at object 1's centre takes object 2's label.
    assert gt_inds.tolist() == [1, 1, 0]
    assert ours.tolist() == fcos.tolist() == [2, 2, 1]


def test_every_center_is_kept_on_a_dense_grid() -> None:
    """On a grid, each object owns the location at its centre only under the SAIS rule;
    the set of positive locations is the same under both rules."""
    ys, xs = torch.meshgrid(torch.arange(4., 128, 8), torch.arange(4., 128, 8), indexing='ij')
    grid = torch.stack([xs.reshape(-1), ys.reshape(-1)], 1).tolist()
    points, ranges, per_lvl = _one_level(grid)
    large, small = [4., 4., 124., 124.], [52., 44., 100., 92.]  # centres (64,64), (76,68)
    gts = _gts([large, small])
    _, _, ca = _head(center_aware=True)._assign_single(gts, points, ranges, per_lvl)
    _, _, fa = _head(center_aware=False)._assign_single(gts, points, ranges, per_lvl)
    assert torch.equal(ca >= 0, fa >= 0)
    nearest = [int(((points - points.new_tensor(c)) ** 2).sum(1).argmin()) for c in
               ([64., 64.], [76., 68.])]
    assert ca[nearest].tolist() == [0, 1]
    assert fa[nearest].tolist() == [1, 1]
    # The small object still owns part of the overlap (its own centre region).
    assert 0 < int((ca == 1).sum()) < int((fa == 1).sum())


def test_equal_center_scores_go_to_the_smaller_box() -> None:
    # Concentric boxes: both score 1 at the common centre; Eq. 2 sorts small first.
    points, ranges, per_lvl = _one_level([[50, 50], [30, 50]])
    gts = _gts([[0., 0., 100., 100.], [25., 25., 75., 75.]])
    _, _, gt_inds = _head(center_aware=True)._assign_single(gts, points, ranges, per_lvl)
    # (30, 50): sqrt(30/70) ~ 0.65 in the large box vs sqrt(5/45) ~ 0.33 in the small.
    assert gt_inds.tolist() == [1, 0]


def test_regress_range_and_center_sampling_still_filter_candidates() -> None:
    points = torch.tensor([[64., 64.], [64., 64.]])
    ranges = torch.tensor([[-1., 32.], [32., 64.]])  # same location on two levels
    gts = _gts([LARGE, SMALL])
    head = _head(center_aware=True, strides=(8, 16), regress_ranges=((-1, 32), (32, 64)))
    _, _, gt_inds = head._assign_single(gts, points, ranges, [1, 1])
    # The large box's max distance (64) only fits level 2; the small box's (40) too,
    # so on level 1 nothing is a candidate and on level 2 the large centre wins.
    assert gt_inds.tolist() == [-1, 0]
    sampled = _head(center_aware=True, center_sampling=True, center_sample_radius=1.5)
    pts, rng, per_lvl = _one_level([[64, 64], [100, 100]])
    _, _, gt_inds = sampled._assign_single(_gts([LARGE]), pts, rng, per_lvl)
    # Radius 1.5 x stride 4 (first default stride) around the centre excludes (100, 100).
    assert gt_inds.tolist() == [0, -1]


@pytest.mark.parametrize('center_sampling', [False, True])
def test_min_area_mode_reproduces_mmdet_fcos_exactly(center_sampling: bool) -> None:
    gen = torch.Generator().manual_seed(0)
    kwargs = dict(center_sampling=center_sampling, strides=(8, 16, 32),
                  regress_ranges=((-1, 32), (32, 64), (64, INF)))
    ours, fcos = _head(center_aware=False, **kwargs), _head(FCOSHead, **kwargs)
    points = ours.prior_generator.grid_priors([(16, 16), (8, 8), (4, 4)], device='cpu')
    per_lvl = [len(p) for p in points]
    ranges = torch.cat([p.new_tensor(r)[None].expand(len(p), 2)
                        for p, r in zip(points, kwargs['regress_ranges'], strict=True)])
    points = torch.cat(points)
    for _ in range(5):
        xy = torch.rand(6, 2, generator=gen) * 100
        wh = torch.rand(6, 2, generator=gen) * 90 + 4
        gts = _gts(torch.cat([xy, xy + wh], 1).tolist(), labels=[0, 1, 2, 0, 1, 2])
        l1, t1 = ours._get_targets_single(gts, points, ranges, per_lvl)
        l2, t2 = fcos._get_targets_single(gts, points, ranges, per_lvl)
        assert torch.equal(l1, l2)
        torch.testing.assert_close(t1, t2)


def test_empty_ground_truth_is_all_background() -> None:
    points, ranges, per_lvl = _one_level([[4, 4], [12, 12]])
    labels, targets, gt_inds = _head()._assign_single(_gts([]), points, ranges, per_lvl)
    assert labels.tolist() == [3, 3] and gt_inds.tolist() == [-1, -1]
    assert targets.shape == (2, 4)
    cand = torch.zeros(2, 0, dtype=torch.bool)
    assert assign_by_min_area(cand, torch.zeros(0)).tolist() == [-1, -1]
    assert assign_by_center_score(cand, torch.zeros(2, 0, 4), torch.zeros(0)).tolist() == [
        -1, -1]
