"""Level tables of the scale-adaptive RoI extractor: paper Eq. 2 and FPN's Eq. 1."""
from __future__ import annotations

import math

import pytest
import torch
from mmcv.ops import RoIAlign
from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor

from centermask_mm.models.roi_heads import ScaleAdaptiveRoIExtractor

ROI_LAYER = dict(type="RoIAlign", output_size=14, sampling_ratio=0, aligned=True)


def _extractor(strides=(8, 16, 32), assign="eq2", channels=4) -> ScaleAdaptiveRoIExtractor:
    return ScaleAdaptiveRoIExtractor(roi_layer=ROI_LAYER, out_channels=channels,
                                     featmap_strides=list(strides), assign=assign)


def _rois(wh: list[tuple[float, float]], batch_idx: list[int] | None = None) -> torch.Tensor:
    """RoIs (N, 5) with the given widths and heights, anchored at (10, 10)."""
    idx = batch_idx or [0] * len(wh)
    return torch.tensor([[b, 10.0, 10.0, 10.0 + w, 10.0 + h]
                         for b, (w, h) in zip(idx, wh, strict=True)])


def _levels(ext: ScaleAdaptiveRoIExtractor, rois: torch.Tensor,
            img_area: float | None = None) -> list[int]:
    areas = None if img_area is None else torch.full((rois.shape[0],), float(img_area))
    return ext.map_roi_levels(rois, len(ext.featmap_strides), areas).tolist()


def test_eq2_p3_p5_cut_points_on_800x1216() -> None:
    """Spec §5: on P3-P5, area > A/2 -> P5, (A/4, A/2] -> P4, <= A/4 -> P3."""
    ext = _extractor()
    h, w = 800, 1216  # A_input = 972,800 px^2
    wh = [(1216, 800),  # whole image
          (1216, 401),  # just over A/2
          (608, 800),  # exactly A/2 -> P4
          (608, 401),  # just over A/4
          (608, 400),  # exactly A/4 -> P3
          (493, 493),  # ~A/4: sqrt(A/4) = 493.2 -> still P3
          (32, 32), (1, 1), (0, 0)]  # tiny and degenerate boxes clamp to P3
    assert _levels(ext, _rois(wh), h * w) == [2, 2, 1, 1, 0, 0, 0, 0, 0]


@pytest.mark.parametrize(("strides", "expected"), [
    # k_max follows the top of the pooled range (paper Table 2), k_min stays P3.
    ((8, 16, 32, 64, 128), [4, 3, 2, 1, 0, 0]),
    ((8, 16, 32, 64), [3, 2, 1, 0, 0, 0]),
    ((8, 16, 32), [2, 1, 0, 0, 0, 0]),
    ((8, 16), [1, 0, 0, 0, 0, 0]),
])
def test_eq2_level_ranges(strides: tuple[int, ...], expected: list[int]) -> None:
    ext = _extractor(strides)
    side = 1024
    # Areas A * (0.75, 0.375, 0.1875, 0.09375, 0.046875, 0.01): one per ratio bucket.
    wh = [(side, side * f) for f in (0.75, 0.375, 0.1875, 0.09375, 0.046875, 0.01)]
    assert _levels(ext, _rois(wh), side * side) == expected
    assert (ext.k_min, ext.k_max) == (3, 3 + len(strides) - 1)


def test_eq2_uses_each_image_area() -> None:
    """The same 300x300 RoI goes to P5 on a 400x400 image and to P3 on 800x1216."""
    ext = _extractor()
    feats = tuple(torch.zeros(2, 4, 1216 // s, 1216 // s) for s in (8, 16, 32))
    rois = _rois([(300, 300), (300, 300)], batch_idx=[0, 1])
    areas = torch.tensor([400.0 * 400.0, 800.0 * 1216.0])
    assert ext.map_roi_levels(rois, 3, areas).tolist() == [2, 0]
    # forward derives the same areas from img_shapes
    out = ext(feats, rois, img_shapes=[(400, 400), (800, 1216)])
    assert out.shape == (2, 4, 14, 14)


def test_eq1_cut_points() -> None:
    """Eq. 1 on P3-P5: sqrt(wh) < 224 -> P3, [224, 448) -> P4, >= 448 -> P5."""
    ext = _extractor(assign="eq1")
    sides = [16, 111, 150, 223.9, 224, 300, 447.9, 448, 1000]
    assert _levels(ext, _rois([(s, s) for s in sides])) == [0, 0, 0, 0, 1, 1, 1, 2, 2]
    ext7 = _extractor((8, 16, 32, 64, 128), assign="eq1")
    sides = [100, 224, 448, 896, 1792, 4000]
    assert _levels(ext7, _rois([(s, s) for s in sides])) == [0, 1, 2, 3, 4, 4]


def test_paper_example_1024_input_224_roi() -> None:
    """Paper Sec. 2.3: a 224^2 RoI in a 1024x1024 input is P4 by Eq. 1, P3 by Eq. 2."""
    roi = _rois([(224, 224)])
    assert _levels(_extractor(assign="eq1"), roi) == [1]
    assert _levels(_extractor(assign="eq2"), roi, 1024 * 1024) == [0]
    # Even with k_max = 7, Eq. 2 gives ceil(7 - log2(1024^2 / 224^2)) = 3, i.e. P3.
    assert _levels(_extractor((8, 16, 32, 64, 128)), roi, 1024 * 1024) == [0]
    assert math.ceil(7 - math.log2(1024**2 / 224**2)) == 3


def test_eq1_matches_stock_extractor_with_finest_scale_112() -> None:
    """Spec §5: mmdet's stock rule with finest_scale=112 is Eq. 1 on a P3-based pyramid."""
    torch.manual_seed(0)
    wh = torch.exp(torch.empty(500, 2).uniform_(math.log(4), math.log(1500)))
    rois = torch.cat([torch.zeros(500, 1), torch.zeros(500, 2), wh], dim=1)
    ours = _extractor(assign="eq1").map_roi_levels(rois, 3)
    stock = SingleRoIExtractor(ROI_LAYER, 4, [8, 16, 32], finest_scale=112).map_roi_levels(
        rois, 3)
    assert torch.equal(ours, stock)


def test_forward_pools_each_roi_from_its_level() -> None:
    torch.manual_seed(0)
    ext = _extractor()
    feats = tuple(torch.randn(1, 4, 256 // s, 256 // s) for s in (8, 16, 32))
    rois = _rois([(200, 200), (150, 150), (40, 30)])  # P5, P4, P3 on a 256x256 image
    out = ext(feats, rois, img_shapes=[(256, 256)])
    for i, lvl in enumerate([2, 1, 0]):
        align = RoIAlign(14, spatial_scale=1.0 / (8 * 2**lvl), sampling_ratio=0, aligned=True)
        assert torch.allclose(out[i], align(feats[lvl], rois[i:i + 1])[0])


def test_forward_without_rois_and_gradients_reach_all_levels() -> None:
    ext = _extractor()
    feats = tuple(torch.randn(1, 4, 8, 8, requires_grad=True) for _ in range(3))
    out = ext(feats, torch.zeros(0, 5), img_shapes=[(64, 64)])
    assert out.shape == (0, 4, 14, 14)
    out.sum().backward()
    assert all(f.grad is not None for f in feats)


def test_eq2_without_image_shapes_is_an_error() -> None:
    ext = _extractor()
    feats = tuple(torch.zeros(1, 4, 8, 8) for _ in range(3))
    with pytest.raises(ValueError, match="img_shapes"):
        ext(feats, _rois([(10, 10)]))


@pytest.mark.parametrize("strides", [(8, 32), (8, 12), (16, 8), ()])
def test_bad_level_range_is_rejected(strides: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="featmap_strides"):
        _extractor(strides)


def test_bad_rule_is_rejected() -> None:
    with pytest.raises(ValueError, match="assign"):
        _extractor(assign="eq3")
