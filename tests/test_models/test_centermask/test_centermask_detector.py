"""CenterMask detector: loss / predict / tensor modes, mask scoring, build-time validation."""
from __future__ import annotations

import pytest
import torch
from mmdet.models.detectors import TwoStageDetector
from mmdet.testing import demo_mm_inputs
from mmengine.structures import InstanceData

from ._tiny import build_tiny

SHAPES = [[3, 96, 128], [3, 64, 96]]


def _inputs(model, num_items=(3, 2), training=True, shapes=SHAPES):
    packed = demo_mm_inputs(len(shapes), shapes, num_items=list(num_items), num_classes=5,
                            with_mask=True)
    return model.data_preprocessor(packed, training)


@pytest.fixture(scope="module")
def model():
    return build_tiny()


def test_is_not_a_two_stage_detector(model) -> None:
    assert not isinstance(model, TwoStageDetector)
    assert model.bbox_head.num_classes == 5  # not forced to 1 as an RPN would be


def test_loss_mode_and_gradients(model) -> None:
    model.train()
    losses = model(**_inputs(model), mode="loss")
    assert set(losses) == {"loss_cls", "loss_bbox", "loss_centerness", "loss_mask",
                           "loss_mask_iou"}
    assert all(torch.isfinite(v).all() for v in losses.values())
    model.zero_grad()
    sum(losses.values()).backward()
    for name in ("backbone", "neck", "bbox_head", "roi_head.mask_head",
                 "roi_head.mask_iou_head"):
        module = model.get_submodule(name)
        assert any(p.grad is not None and p.grad.abs().sum() > 0
                   for p in module.parameters()), name


def test_loss_with_empty_ground_truth(model) -> None:
    """Images without objects (and a batch without any) do not crash the mask branch."""
    model.train()
    for items in [(0, 2), (0, 0)]:
        losses = model(**_inputs(model, num_items=items), mode="loss")
        assert all(torch.isfinite(v).all() for v in losses.values()), items
        sum(losses.values()).backward()
    assert float(losses["loss_mask"]) == 0.0 and float(losses["loss_mask_iou"]) == 0.0


def test_predict_outputs_and_mask_scores(model) -> None:
    model.eval()
    data = _inputs(model, training=False)
    for sample in data["data_samples"]:  # pretend the inputs were resized by 0.5
        h, w = sample.img_shape
        sample.set_metainfo(dict(ori_shape=(2 * h, 2 * w), scale_factor=(0.5, 0.5)))
    model.bbox_head.test_cfg.score_thr = 0.0  # an untrained head scores ~0.01
    try:
        with torch.no_grad():
            results = model(**data, mode="predict")
    finally:
        model.bbox_head.test_cfg.score_thr = 0.03
    for sample in results:
        pred = sample.pred_instances
        n = len(pred)
        assert 0 < n <= 50  # test_cfg: 50 detections per image
        assert set(pred.keys()) == {"bboxes", "labels", "scores", "masks", "mask_scores"}
        assert pred.masks.shape == (n, *sample.ori_shape) and pred.masks.dtype == torch.bool
        # boxes were rescaled to the original image along with the masks
        assert float(pred.bboxes[:, 2].max()) > sample.img_shape[1] * 0.9 or n == 0
        assert pred.mask_scores.shape == pred.scores.shape


def test_mask_scoring_leaves_box_scores_alone(model) -> None:
    """scores are FCOS's box scores; mask_scores = scores x predicted MaskIoU (paper Sec. 2.6)."""
    model.eval()
    data = _inputs(model, training=False)
    model.bbox_head.test_cfg.score_thr = 0.0
    try:
        with torch.no_grad():
            x = model.extract_feat(data["inputs"])
            boxes = model.bbox_head.predict(x, data["data_samples"], rescale=False)
            box_scores = [b.scores.clone() for b in boxes]
            mask_preds, mask_iou = model.roi_head.forward(x, boxes, data["data_samples"])
            results = model(**data, mode="predict")
    finally:
        model.bbox_head.test_cfg.score_thr = 0.03
    ious = mask_iou.split([len(b) for b in boxes])
    for sample, ref, iou in zip(results, box_scores, ious, strict=True):
        pred = sample.pred_instances
        assert torch.equal(pred.scores, ref)
        assert torch.allclose(pred.mask_scores, ref * iou, atol=1e-6)
        assert not torch.allclose(pred.mask_scores, pred.scores)


def test_predict_without_detections(model) -> None:
    """No FCOS box above the threshold: empty masks and mask_scores, no crash."""
    model.eval()
    model.bbox_head.test_cfg.score_thr = 1.1
    try:
        with torch.no_grad():
            results = model(**_inputs(model, training=False), mode="predict")
    finally:
        model.bbox_head.test_cfg.score_thr = 0.03
    for sample in results:
        pred = sample.pred_instances
        assert len(pred) == 0
        assert pred.masks.shape == (0, *sample.ori_shape)
        assert pred.mask_scores.shape == (0,)


def test_roi_head_predict_with_some_images_empty(model) -> None:
    model.eval()
    data = _inputs(model, training=False)
    with torch.no_grad():
        x = model.extract_feat(data["inputs"])
        boxes = [InstanceData(bboxes=torch.tensor([[4.0, 4.0, 40.0, 50.0]]),
                              scores=torch.tensor([0.7]), labels=torch.tensor([2])),
                 InstanceData(bboxes=torch.zeros(0, 4), scores=torch.zeros(0),
                              labels=torch.zeros(0, dtype=torch.long))]
        results = model.roi_head.predict(x, boxes, data["data_samples"], rescale=True)
    assert results[0].masks.shape[0] == 1 and results[1].masks.shape[0] == 0
    assert results[0].mask_scores.shape == (1,) and results[1].mask_scores.shape == (0,)
    assert float(results[0].scores) == pytest.approx(0.7)


def test_tensor_mode(model) -> None:
    model.eval()
    data = _inputs(model, training=False)
    with torch.no_grad():
        outs = model(**data, mode="tensor")
        outs_no_meta = model(data["inputs"], mode="tensor")
    cls_scores, bbox_preds, centernesses, mask_preds, mask_iou = outs
    assert len(cls_scores) == len(bbox_preds) == len(centernesses) == 5  # P3-P7
    assert cls_scores[0].shape[1] == 5 and bbox_preds[0].shape[1] == 4
    assert mask_preds.shape[1:] == (5, 28, 28) and mask_iou.shape == mask_preds.shape[:1]
    assert len(outs_no_meta) == 5


def test_mask_scoring_off() -> None:
    model = build_tiny({"roi_head.mask_iou_head": None})
    model.train()
    losses = model(**_inputs(model), mode="loss")
    assert "loss_mask_iou" not in losses and "loss_mask" in losses
    model.eval()
    with torch.no_grad():
        results = model(**_inputs(model, training=False), mode="predict")
    assert "mask_scores" not in results[0].pred_instances


def test_training_rois_are_detached_proposals_plus_gt_and_capped() -> None:
    """Mask RoIs: FCOS proposals + GT, IoU >= 0.5 positives, at most 128 per image."""
    model = build_tiny({"train_cfg.mask.sampler.num": 512})  # the toy config caps it at 64
    model.train()
    data = _inputs(model, num_items=(1, 1))
    x = model.extract_feat(data["inputs"])
    seen = []
    hook = model.roi_head.mask_head.register_forward_hook(
        lambda m, inp, out: seen.append(inp[0].shape[0]))
    # 300 near-copies of each GT box (IoU > 0.5) plus 50 far boxes (background).
    proposals = []
    for sample in data["data_samples"]:
        gt = sample.gt_instances.bboxes
        jitter = gt.repeat(300, 1) + torch.rand(300, 4) * 2.0
        far = torch.tensor([[0.0, 0.0, 2.0, 2.0]]).repeat(50, 1)
        boxes = torch.cat([jitter, far]).requires_grad_()
        proposals.append(InstanceData(bboxes=boxes, scores=torch.rand(350),
                                      labels=torch.zeros(350, dtype=torch.long)))
    model.roi_head.loss(x, proposals, data["data_samples"])
    hook.remove()
    assert seen == [2 * 128]  # RandomSampler(512, 0.25): 128 positives per image
    # without proposals the GT boxes alone are the positives
    seen.clear()
    hook = model.roi_head.mask_head.register_forward_hook(
        lambda m, inp, out: seen.append(inp[0].shape[0]))
    empty = [InstanceData(bboxes=torch.zeros(0, 4), scores=torch.zeros(0),
                          labels=torch.zeros(0, dtype=torch.long)) for _ in range(2)]
    losses = model.roi_head.loss(x, empty, data["data_samples"])
    hook.remove()
    assert seen == [2] and torch.isfinite(losses["loss_mask"])


@pytest.mark.parametrize(("options", "keys"), [
    ({"roi_head.mask_head.num_classes": 7},
     ["model.bbox_head.num_classes=5", "model.roi_head.mask_head.num_classes=7"]),
    ({"roi_head.mask_iou_head.num_classes": 80},
     ["model.roi_head.mask_iou_head.num_classes=80"]),
    ({"roi_head.mask_roi_extractor.featmap_strides": [8, 16, 32, 64, 128, 256]},
     ["model.roi_head.mask_roi_extractor.featmap_strides", "model.neck.num_outs=5"]),
    ({"roi_head.mask_roi_extractor.featmap_strides": [16, 32]},
     ["model.roi_head.mask_roi_extractor.featmap_strides", "model.bbox_head.strides"]),
    ({"roi_head.mask_head.in_channels": 64},
     ["model.roi_head.mask_head.in_channels=64", "model.neck.out_channels=32"]),
])
def test_inconsistent_config_fails_at_build_time(options: dict, keys: list[str]) -> None:
    with pytest.raises(ValueError) as err:
        build_tiny(options)
    for key in keys:
        assert key in str(err.value)
