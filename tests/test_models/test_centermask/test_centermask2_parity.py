"""This project against centermask2's own outputs (tests/data/centermask2, README.md there).

The converted centermask2 CenterMask-Lite V-19-slim-dw-eSE checkpoint (random weights) runs
through the project's model with ``test_cfg.postprocess='centermask2'``; every stage is
compared with what centermask2 computed for the fixture image. Where a stage is tested
alone it is fed the fixture's tensors for the stage before. Tolerances are the fixture
README's suggestions for fp32 on CPU.
"""
from __future__ import annotations

import copy
from pathlib import Path

import mmcv
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.structures import InstanceData

from centermask_mm.converters import centermask2 as cm2
from centermask_mm.models.utils.centermask2_postprocess import finalize_instances

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / 'tests' / 'data' / 'centermask2'
CKPT = DATA / 'centermask2_lite_V_19_slim_dw_eSE_random.pth'
CONFIG = REPO / 'configs/centermask/centermask-lite_v2-19-slim-dw-ese_fpn_ms-4x_coco.py'
LEVELS = ('p3', 'p4', 'p5', 'p6', 'p7')
STRIDES = (8, 16, 32, 64, 128)
H, W = 512, 640


def _build(postprocess: str | None = None):
    """The fixture's model from the project config, with the converted fixture weights.

    ``postprocess`` overrides ``model.test_cfg.postprocess`` (None: the config's own).
    """
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    register_all_modules()
    cfg = copy.deepcopy(Config.fromfile(str(CONFIG)).model)
    cfg.backbone.init_cfg = None
    if postprocess is not None:
        cfg.test_cfg.postprocess = postprocess
    model = MODELS.build(cfg)
    state = cm2.convert_checkpoint(cm2.load_source(CKPT)).state_dict
    model.load_state_dict(state, strict=True)
    return model.eval()


@pytest.fixture(scope='module')
def ref() -> dict:
    return torch.load(DATA / 'centermask2_outputs.pth', map_location='cpu', weights_only=True)


@pytest.fixture(scope='module')
def model():
    return _build()


def _sample(ori_shape=(H, W), scale=(1.0, 1.0)) -> DetDataSample:
    return DetDataSample(metainfo=dict(img_shape=(H, W), ori_shape=ori_shape,
                                       pad_shape=(H, W), scale_factor=scale))


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def _predict(model, ref, sample=None):
    with torch.no_grad():
        return model.predict(ref['input'], [sample or _sample()], rescale=True)[0]


@pytest.fixture(scope='module')
def predicted(model, ref) -> InstanceData:
    return _predict(model, ref).pred_instances


def test_the_mirror_config_uses_centermask2_inference(model) -> None:
    assert model.postprocess == 'centermask2'
    assert model.test_cfg.fcos.score_thr == 0.05 and model.test_cfg.fcos.max_per_img == 50


def test_preprocessing_from_the_png_is_exact(model, ref) -> None:
    img = mmcv.imread(str(DATA / 'image_512x640.png'))  # BGR, as centermask2 reads it
    data = dict(inputs=[torch.from_numpy(img).permute(2, 0, 1).contiguous()],
                data_samples=[_sample()])
    out = model.data_preprocessor(data, False)
    assert torch.equal(out['inputs'], ref['input'])
    assert tuple(ref['image_size'].tolist()) == (H, W)


def test_fpn_maps(model, ref) -> None:
    with torch.no_grad():
        feats = model.extract_feat(ref['input'])
    for name, ours in zip(LEVELS, feats, strict=True):
        assert ours.shape == ref[f'fpn.{name}'].shape
        assert _rel(ours, ref[f'fpn.{name}']) <= 1e-4, name


def test_fcos_maps_and_candidates(model, ref) -> None:
    feats = tuple(ref[f'fpn.{n}'] for n in LEVELS)
    with torch.no_grad():
        cls, box, ctr = model.bbox_head(feats)
    for i, (name, stride) in enumerate(zip(LEVELS, STRIDES, strict=True)):
        assert _rel(cls[i], ref[f'fcos.cls.{name}']) <= 1e-4, name
        # mmdet's FCOSHead returns pixels in eval mode; the fixture stores stride units.
        assert _rel(box[i] / stride, ref[f'fcos.box.{name}']) <= 1e-4, name
        assert _rel(ctr[i], ref[f'fcos.ctr.{name}']) <= 1e-4, name
    candidates = torch.stack([(c.sigmoid() > 0.05).sum() for c in cls])
    assert torch.equal(candidates, ref['fcos.candidates'])


def test_fcos_detections(model, ref) -> None:
    feats = tuple(ref[f'fpn.{n}'] for n in LEVELS)
    with torch.no_grad():
        dets = model.fcos_detections_centermask2(model.bbox_head(feats), [_sample().metainfo])[0]
    assert len(dets) == 50
    assert torch.equal(dets.labels, ref['dets.classes'])
    assert (dets.bboxes - ref['dets.boxes']).abs().max() <= 1e-3
    assert (dets.scores - ref['dets.scores']).abs().max() <= 1e-4
    # unclipped: boxes crossing the border stay as FCOS predicted them
    assert (dets.bboxes[:, :2] < 0).any() or (dets.bboxes[:, 2] > W).any()


def test_final_instances_match_centermask2(predicted, ref) -> None:
    res = predicted
    assert len(res) == 48  # two of the 50 detections are empty after clipping
    assert torch.equal(res.labels, ref['final.classes'])
    assert (res.bboxes - ref['final.boxes']).abs().max() <= 1e-3
    assert (res.scores - ref['final.scores']).abs().max() <= 1e-4
    assert (res.mask_scores - ref['final.mask_scores']).abs().max() <= 1e-5
    assert res.masks.shape == (48, H, W) and res.masks.dtype == torch.bool
    ref_masks = ref['final.masks'].bool()
    differ = (res.masks != ref_masks).flatten(1).sum(1)
    assert (differ <= 0.001 * H * W).all(), differ.max()
    # the boxes that cross the border are among them: pasted into the clipped box
    assert ((ref['dets.boxes'][ref['final.det_index']] - ref['final.boxes']).abs()
            .amax(1) > 0).sum() == 11


def test_tensor_mode_runs_the_mask_branch_on_unclipped_detections(model, ref) -> None:
    with torch.no_grad():
        outs = model(ref['input'], [_sample()], mode='tensor')
    mask_preds, mask_iou = outs[-2:]
    assert mask_preds.shape == (50, 80, 28, 28)  # all 50 FCOS detections, empty ones too
    keep = ref['final.det_index']
    idx = torch.arange(len(keep))
    probs = mask_preds[keep][idx, ref['final.classes']].sigmoid()
    assert (probs - ref['final.mask_probs']).abs().max() <= 1e-5
    assert (mask_iou[keep] - ref['final.maskiou']).abs().max() <= 1e-5


def test_rescale_to_the_original_image(model, ref, predicted) -> None:
    """``rescale=True`` with an original image twice the input: boxes scaled, clipped after."""
    res = _predict(model, ref, _sample(ori_shape=(2 * H, 2 * W), scale=(0.5, 0.5)))
    res = res.pred_instances
    assert len(res) == 48 and res.masks.shape == (48, 2 * H, 2 * W)
    assert (res.bboxes - 2 * ref['final.boxes']).abs().max() <= 2e-3
    torch.testing.assert_close(res.scores, predicted.scores)
    # Pasted at twice the resolution, each mask is the reference mask upsampled, up to
    # its outline: IoU >= 0.9 wherever the mask is large enough for that to be meaningful.
    up = ref['final.masks'].bool().repeat_interleave(2, 1).repeat_interleave(2, 2)
    inter = (res.masks & up).flatten(1).sum(1).float()
    union = (res.masks | up).flatten(1).sum(1).float()
    big = up.flatten(1).sum(1) >= 500
    assert big.sum() >= 20 and (inter[big] / union[big] >= 0.9).all()


def test_mask_branch_on_given_boxes(model, ref) -> None:
    roi = model.roi_head
    feats = tuple(ref[f'fpn.{n}'] for n in LEVELS)
    boxes, labels = ref['given.boxes'], ref['given.classes']
    rois = torch.cat([boxes.new_zeros(len(boxes), 1), boxes], 1)
    levels = roi.mask_roi_extractor.map_roi_levels(
        rois, 3, boxes.new_full((len(boxes),), float(H * W)))
    assert torch.equal(levels, ref['given.levels'])
    with torch.no_grad():
        out = roi._mask_forward(feats, rois, [(H, W)])
        idx = torch.arange(len(boxes))
        probs = out['mask_preds'][idx, labels].sigmoid()
        iou = roi._mask_iou(out['mask_feats'], out['mask_preds'], labels)
    assert (probs - ref['given.mask_probs']).abs().max() <= 1e-5
    assert (iou - ref['given.maskiou']).abs().max() <= 1e-5
    assert (ref['given.scores'] * iou - ref['given.mask_scores']).abs().max() <= 1e-5
    res = InstanceData(bboxes=boxes.clone(), scores=ref['given.scores'], labels=labels,
                       index=idx)
    post = finalize_instances(res, probs, (H, W), None, 0.5)
    assert torch.equal(post.index, ref['given.post_index'])  # zero-width box 8 dropped
    assert (post.bboxes - ref['given.post_boxes']).abs().max() <= 1e-3
    differ = (post.masks != ref['given.post_masks'].bool()).flatten(1).sum(1)
    assert (differ <= 0.001 * H * W).all(), differ.max()


def test_mmdet_mode_differs_only_as_known(ref) -> None:
    """'mmdet' post-processing: same boxes (clipped) and classes, score = centermask2's²."""
    model = _build('mmdet')
    res = _predict(model, ref).pred_instances
    assert len(res) == 50  # empty boxes are not dropped after the top-50 cut
    for box, label, score in zip(ref['final.boxes'], ref['final.classes'],
                                 ref['final.scores'], strict=True):
        match = ((res.bboxes - box).abs().amax(1) <= 1e-3) & (res.labels == label)
        assert match.sum() == 1
        assert abs(res.scores[match].item() - score.item() ** 2) <= 1e-4


def test_unknown_postprocess_mode_is_rejected() -> None:
    with pytest.raises(ValueError, match='model.test_cfg.postprocess'):
        _build('detectron2')
