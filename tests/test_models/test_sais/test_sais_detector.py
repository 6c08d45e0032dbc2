"""SAIS detector end to end on demo inputs: loss (with and without GT), predict."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmdet.utils import register_all_modules
from mmengine.config import Config

import centermask_mm  # noqa: F401

TOY = Path(__file__).parents[3] / 'configs' / 'sais' / 'toy' / 'sais_v2-19-slim-ese_fpn_toy.py'
# Second image is not a multiple of 32: the batch is padded, exercising padded crops.
SHAPES = [[3, 128, 128], [3, 100, 130]]


@pytest.fixture(scope='module')
def model_cfg() -> Config:
    register_all_modules()
    return Config.fromfile(str(TOY)).model


def _build(cfg: Config, **test_cfg):
    cfg = copy.deepcopy(cfg)
    cfg.test_cfg.update(test_cfg)
    torch.manual_seed(0)
    return MODELS.build(cfg)


def _loss(model, num_items):
    packed = demo_mm_inputs(2, SHAPES, num_items=num_items, num_classes=5, with_mask=True)
    data = model.data_preprocessor(packed, True)
    return model(**data, mode='loss')


def test_loss_with_ground_truth(model_cfg: Config) -> None:
    model = _build(model_cfg)
    model.train()
    losses = _loss(model, [3, 2])
    assert set(losses) == {'loss_cls', 'loss_bbox', 'loss_centerness', 'loss_mask'}
    total = sum(sum(v) if isinstance(v, list) else v for v in losses.values())
    assert torch.isfinite(total) and total > 0
    total.backward()
    assert model.bbox_head.conv_coeff.weight.grad.abs().sum() > 0
    assert model.mask_head.protonet[0].weight.grad.abs().sum() > 0


def test_loss_with_empty_ground_truth(model_cfg: Config) -> None:
    model = _build(model_cfg)
    model.train()
    losses = _loss(model, [0, 0])
    assert losses['loss_cls'] > 0
    assert losses['loss_bbox'] == 0 and losses['loss_centerness'] == 0
    assert all(v == 0 for v in losses['loss_mask'])


@pytest.mark.parametrize('score_thr', [1.1, 0.0])
def test_predict(model_cfg: Config, score_thr: float) -> None:
    model = _build(model_cfg, score_thr=score_thr, max_per_img=7)
    model.eval()
    packed = demo_mm_inputs(2, SHAPES, num_classes=5, with_mask=True)
    data = model.data_preprocessor(packed, False)
    with torch.no_grad():
        results = model(**data, mode='predict')
    for sample in results:
        pred = sample.pred_instances
        n = len(pred)
        assert n == 0 if score_thr > 1 else 0 < n <= 7
        h, w = sample.ori_shape
        assert pred.masks.shape == (n, h, w) and pred.masks.dtype == torch.bool
        assert pred.bboxes.shape == (n, 4) and pred.scores.shape == (n,)


def test_mismatched_prototype_count_is_rejected(model_cfg: Config) -> None:
    cfg = copy.deepcopy(model_cfg)
    cfg.mask_head.num_protos = 16
    cfg.mask_head.proto_channels = (64, 64, 64, None, 64, 16)
    with pytest.raises(ValueError, match='num_protos'):
        MODELS.build(cfg)
