"""centermask2's post-processing rules on hand-made FCOS maps (each rule on its own).

The fixture test (test_centermask2_parity.py) does not exercise every rule (no level has
more than 1000 candidates, no score ties), so each one is pinned here on maps whose right
answer is known by construction.
"""
from __future__ import annotations

import torch
from mmengine.structures import InstanceData

from centermask_mm.models.utils.centermask2_postprocess import (
    fcos_detections,
    finalize_instances,
    paste_masks,
)

STRIDE = 8


def _maps(cls_p: dict, ctr_p: dict, size=(4, 6), num_classes=2, dist=3.0):
    """One level: probabilities at (y, x[, c]) given, everything else ~0; boxes 2*dist wide."""
    h, w = size
    cls = torch.full((num_classes, h, w), -20.0)
    ctr = torch.full((1, h, w), -20.0)
    for (y, x, c), p in cls_p.items():
        cls[c, y, x] = torch.logit(torch.tensor(p, dtype=torch.float64)).float()
    for (y, x), p in ctr_p.items():
        ctr[0, y, x] = torch.logit(torch.tensor(p, dtype=torch.float64)).float()
    reg = torch.full((4, h, w), dist)
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing='ij')
    points = torch.stack([xs.flatten(), ys.flatten()], 1).float() * STRIDE + STRIDE / 2
    return [cls], [reg], [ctr], [points]


def _cfg(**kw):
    cfg = dict(score_thr=0.05, nms_pre=1000, nms=dict(type='nms', iou_threshold=0.6),
               max_per_img=50)
    cfg.update(kw)
    return cfg


def test_score_is_sqrt_and_threshold_is_on_cls_alone() -> None:
    maps = _maps({(0, 0, 0): 0.06, (2, 4, 1): 0.04, (3, 1, 0): 0.5},
                 {(0, 0): 0.01, (2, 4): 1 - 1e-6, (3, 1): 0.5})
    dets = fcos_detections(*maps, _cfg())
    # (2, 4) has cls 0.04 < 0.05 although cls * ctr would pass any ctr test; (0, 0) has
    # cls 0.06 > 0.05 and stays although cls * ctr = 0.0006.
    assert dets.labels.tolist() == [0, 0]
    torch.testing.assert_close(dets.scores, torch.tensor([0.25, 0.0006]).sqrt())
    # box of (3, 1): centre (12, 28), 3 px each side, unclipped
    torch.testing.assert_close(dets.bboxes[0], torch.tensor([9.0, 25.0, 15.0, 31.0]))


def test_pre_nms_topk_ranks_by_cls_times_ctr() -> None:
    # A: cls 0.9, ctr 0.1 (0.09); B: cls 0.6, ctr 0.9 (0.54). Ranking by cls keeps A.
    maps = _maps({(0, 0, 0): 0.9, (3, 5, 0): 0.6}, {(0, 0): 0.1, (3, 5): 0.9})
    dets = fcos_detections(*maps, _cfg(nms_pre=1))
    assert len(dets) == 1
    torch.testing.assert_close(dets.scores, torch.tensor([0.54]).sqrt())


def test_boxes_are_not_clipped_and_not_dropped_before_nms() -> None:
    # Location (0, 0) with 30 px distances: box (-26, -26, 34, 34) crosses the border.
    maps = _maps({(0, 0, 1): 0.7}, {(0, 0): 0.7}, dist=30.0)
    dets = fcos_detections(*maps, _cfg())
    torch.testing.assert_close(dets.bboxes, torch.tensor([[-26.0, -26.0, 34.0, 34.0]]))


def test_ties_at_the_cut_keep_more_than_max_per_img() -> None:
    # Three well-separated boxes with the same score and a lower one; max_per_img 2.
    maps = _maps({(0, 0, 0): 0.5, (0, 5, 0): 0.5, (3, 0, 0): 0.5, (3, 5, 0): 0.3},
                 {(0, 0): 0.5, (0, 5): 0.5, (3, 0): 0.5, (3, 5): 0.5})
    dets = fcos_detections(*maps, _cfg(max_per_img=2))
    assert len(dets) == 3
    torch.testing.assert_close(dets.scores, torch.full((3,), 0.5))
    assert len(fcos_detections(*maps, _cfg(max_per_img=3))) == 3
    assert len(fcos_detections(*maps, _cfg(max_per_img=4))) == 4


def test_empty_maps_give_no_detections() -> None:
    dets = fcos_detections(*_maps({}, {}), _cfg())
    assert len(dets) == 0 and dets.bboxes.shape == (0, 4)


def test_mask_of_the_unclipped_box_is_pasted_into_the_clipped_box() -> None:
    # 28x28 mask: left half on. Box (-20, 0, 20, 40) in a 40x40 image: its left half lies
    # outside; after clipping to (0, 0, 20, 40) the whole predicted mask (left half on) is
    # squeezed into the clipped box, so columns 0-9 are on and 10-19 off.
    probs = torch.zeros(2, 28, 28)
    probs[:, :, :14] = 1.0
    res = InstanceData(bboxes=torch.tensor([[-20.0, 0.0, 20.0, 40.0], [50.0, 5.0, 60.0, 9.0]]),
                       scores=torch.tensor([0.9, 0.8]), labels=torch.tensor([0, 1]))
    out = finalize_instances(res, probs, (40, 40), None, 0.5)
    assert len(out) == 1  # the second box is empty after clipping (x1 = x2 = 40)
    torch.testing.assert_close(out.bboxes, torch.tensor([[0.0, 0.0, 20.0, 40.0]]))
    mask = out.masks[0]
    assert mask[:, :10].all() and not mask[:, 10:].any()
    assert torch.equal(out.masks, paste_masks(probs[:1], out.bboxes, 40, 40))


def test_rescale_scales_before_clipping() -> None:
    probs = torch.ones(1, 28, 28)
    res = InstanceData(bboxes=torch.tensor([[-4.0, 2.0, 30.0, 10.0]]), scores=torch.ones(1),
                       labels=torch.zeros(1, dtype=torch.long))
    out = finalize_instances(res, probs, (20, 25), (40, 50), 0.5)
    torch.testing.assert_close(out.bboxes, torch.tensor([[0.0, 4.0, 50.0, 20.0]]))
    assert out.masks.shape == (1, 40, 50)
    assert out.masks[0, 4:20].all() and not out.masks[0, 21:].any()


def _tiny_inputs(model, shapes):
    from mmdet.testing import demo_mm_inputs

    packed = demo_mm_inputs(len(shapes), shapes, num_items=[2] * len(shapes), num_classes=5,
                            with_mask=True)
    for i, sample in enumerate(packed['data_samples']):  # original images 1.5x the input
        h, w = shapes[i][1:]
        sample.set_metainfo(dict(ori_shape=(int(h * 1.5), int(w * 1.5)),
                                 scale_factor=(1 / 1.5, 1 / 1.5)))
    return model.data_preprocessor(packed, False)


def test_detector_batch_in_centermask2_mode() -> None:
    """A batch of two sizes through predict: per-image shapes, clipped boxes, mask scores."""
    from ._tiny import build_tiny

    shapes = [[3, 96, 128], [3, 64, 96]]
    model = build_tiny({'test_cfg.postprocess': 'centermask2',
                        'test_cfg.fcos.score_thr': 0.0, 'test_cfg.fcos.max_per_img': 7})
    model.eval()
    # Untrained regression is often 0 after the ReLU: boxes of one stride each side instead.
    torch.nn.init.constant_(model.bbox_head.conv_reg.bias, 1.0)
    data = _tiny_inputs(model, shapes)
    with torch.no_grad():
        out = model.predict(data['inputs'], data['data_samples'], rescale=True)
    for sample, shape in zip(out, shapes, strict=True):
        res = sample.pred_instances
        oh, ow = int(shape[1] * 1.5), int(shape[2] * 1.5)
        assert 0 < len(res) <= 7
        assert res.masks.shape == (len(res), oh, ow) and res.masks.dtype == torch.bool
        assert (res.bboxes >= 0).all() and (res.bboxes[:, 2] <= ow).all()
        assert (res.bboxes[:, 3] <= oh).all()
        assert ((res.bboxes[:, 2] > res.bboxes[:, 0]) & (res.bboxes[:, 3] > res.bboxes[:, 1])).all()
        assert res.mask_scores.shape == res.scores.shape
        assert (res.scores[:-1] >= res.scores[1:]).all()


def test_detector_with_no_detections_in_centermask2_mode() -> None:
    from ._tiny import build_tiny

    model = build_tiny({'test_cfg.postprocess': 'centermask2', 'test_cfg.fcos.score_thr': 1.0})
    model.eval()
    data = _tiny_inputs(model, [[3, 64, 96]])
    with torch.no_grad():
        res = model.predict(data['inputs'], data['data_samples'], rescale=True)[0].pred_instances
    assert len(res) == 0 and res.masks.shape == (0, 96, 144) and res.mask_scores.shape == (0,)
