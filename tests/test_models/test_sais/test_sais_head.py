"""SAISHead: coefficient branch, FCOS losses with positives, predictions with coefficients."""
from __future__ import annotations

import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

from centermask_mm.models.dense_heads import SAISHead

K = 4
STRIDES = (8, 16, 32, 64, 128)
META = dict(img_shape=(128, 128), pad_shape=(128, 128), batch_input_shape=(128, 128),
            scale_factor=(1.0, 1.0), ori_shape=(128, 128))
TEST_CFG = ConfigDict(nms_pre=1000, min_bbox_size=0, score_thr=0.05,
                      nms=dict(type='nms', iou_threshold=0.5), max_per_img=10)


def _head(**kwargs) -> SAISHead:
    torch.manual_seed(0)
    head = SAISHead(num_classes=3, in_channels=8, feat_channels=8, stacked_convs=1,
                    norm_cfg=None, num_protos=K, test_cfg=TEST_CFG, **kwargs)
    head.init_weights()
    return head


def _feats(batch: int = 1) -> list[torch.Tensor]:
    torch.manual_seed(1)
    return [torch.rand(batch, 8, 128 // s, 128 // s) for s in STRIDES]


def _gt(boxes: list[list[float]]) -> InstanceData:
    gt = InstanceData()
    gt.bboxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    gt.labels = torch.zeros(len(boxes), dtype=torch.long)
    return gt


def test_forward_shapes_and_coefficient_range() -> None:
    cls, box, ctr, coeff = _head()(_feats(2))
    assert len(coeff) == len(STRIDES)
    for c, s in zip(coeff, STRIDES, strict=True):
        assert c.shape == (2, K, 128 // s, 128 // s)
        assert c.abs().max() <= 1  # tanh
    assert cls[0].shape == (2, 3, 16, 16) and box[0].shape == (2, 4, 16, 16)


@pytest.mark.parametrize('source, depends_on_reg', [('sum', True), ('cls', False)])
def test_coefficients_read_the_selected_towers(source: str, depends_on_reg: bool) -> None:
    head = _head(coeff_source=source)
    feats = _feats()
    before = head(feats)[3][0].clone()
    with torch.no_grad():
        head.reg_convs[0].conv.weight.add_(0.5)
    after = head(feats)[3][0]
    assert (not torch.allclose(before, after)) == depends_on_reg


def test_bad_switches_raise() -> None:
    with pytest.raises(ValueError, match='coeff_source'):
        _head(coeff_source='reg')
    with pytest.raises(ValueError, match='num_protos'):
        SAISHead(num_classes=3, in_channels=8, num_protos=0)


def test_loss_with_empty_ground_truth() -> None:
    head = _head()
    losses = head.loss_by_feat(*head(_feats()), [_gt([])], [META])
    assert losses['loss_cls'] > 0
    assert losses['loss_bbox'] == 0 and losses['loss_centerness'] == 0
    (info,) = head.get_positive_infos()
    assert info.coeffs.shape == (0, K) and len(info.pos_assigned_gt_inds) == 0


@pytest.mark.parametrize('center_aware', [True, False])
def test_loss_with_ground_truth_records_positives(center_aware: bool) -> None:
    head = _head(center_aware=center_aware)
    boxes = [[8., 8., 120., 120.], [40., 40., 80., 72.]]
    outs = head(_feats())
    losses = head.loss_by_feat(*outs, [_gt(boxes)], [META])
    assert all(v > 0 for v in losses.values())
    (info,) = head.get_positive_infos()
    n = len(info)
    assert n > 0 and info.coeffs.shape == (n, K)
    torch.testing.assert_close(info.bboxes, torch.tensor(boxes)[info.pos_assigned_gt_inds])
    # The recorded coefficients are the predictions at those locations, with gradient.
    flat = torch.cat([c[0].permute(1, 2, 0).reshape(-1, K) for c in outs[3]])
    torch.testing.assert_close(info.coeffs, flat[info.pos_inds])
    assert info.coeffs.requires_grad


def test_predict_without_detections() -> None:
    head = _head()
    cfg = TEST_CFG.copy()
    cfg.score_thr = 1.1  # nothing can pass
    (res,) = head.predict_by_feat(*head(_feats()), batch_img_metas=[META], cfg=cfg)
    assert len(res) == 0 and res.coeffs.shape == (0, K) and res.bboxes.shape == (0, 4)


def test_predict_carries_coefficients_through_nms() -> None:
    head = _head()
    cfg = TEST_CFG.copy()
    cfg.score_thr = 0.0
    outs = head(_feats())
    (res,) = head.predict_by_feat(*outs, batch_img_metas=[META], cfg=cfg)
    assert 0 < len(res) <= cfg.max_per_img
    assert res.coeffs.shape == (len(res), K)
    # Each detection keeps the coefficients of the location its box was decoded from.
    flat_coeff = torch.cat([c[0].permute(1, 2, 0).reshape(-1, K) for c in outs[3]])
    flat_box = torch.cat([b[0].permute(1, 2, 0).reshape(-1, 4) for b in outs[1]])
    points = torch.cat(head.prior_generator.grid_priors(
        [c.shape[-2:] for c in outs[0]], device='cpu'))
    match = (res.coeffs[:, None, :] == flat_coeff[None]).all(-1)
    assert match.any(1).all()
    loc = match.float().argmax(1)
    boxes = head.bbox_coder.decode(points[loc], flat_box[loc], max_shape=(128, 128))
    torch.testing.assert_close(res.bboxes, boxes)
