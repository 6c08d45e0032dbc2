"""Every SAIS config loads, builds, and encodes the row of the paper table it claims.

Rows (SAIS paper): Table I input type, Table II center-aware targets for FCOS and SAIS,
Table III coefficient fusion, Table IV backbones and input sizes. All use the paper's
schedule: SGD lr 0.01, momentum 0.9, 16 images per batch, 12 epochs, steps at 8 and 11.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config

import centermask_mm  # noqa: F401

ROOT = Path(__file__).parents[2] / 'configs' / 'sais'

# config -> (head type, coeff_source, center_aware, input scale, keep_ratio, backbone depth)
ROWS = {
    'sais_r50-caffe_fpn_768_1x_coco.py': ('SAISHead', 'sum', True, (768, 768), False, 50),
    'sais_r50-caffe_fpn_640_1x_coco.py': ('SAISHead', 'sum', True, (640, 640), False, 50),
    'sais_r101-caffe_fpn_768_1x_coco.py': ('SAISHead', 'sum', True, (768, 768), False, 101),
    'sais_x101-64x4d_fpn_768_1x_coco.py': ('SAISHead', 'sum', True, (768, 768), False, 101),
    'sais-cls_r50-caffe_fpn_768_1x_coco.py': ('SAISHead', 'cls', True, (768, 768), False, 50),
    'sais-cls-noca_r50-caffe_fpn_768_1x_coco.py':
        ('SAISHead', 'cls', False, (768, 768), False, 50),
    'sais-cls-noca_r50-caffe_fpn_1333x800_1x_coco.py':
        ('SAISHead', 'cls', False, (1333, 800), True, 50),
    'fcos_r50-caffe_fpn_gn-head_1x_coco.py': ('FCOSHead', None, False, (1333, 800), True, 50),
    'fcos-ca_r50-caffe_fpn_gn-head_1x_coco.py':
        ('CenterAwareFCOSHead', None, True, (1333, 800), True, 50),
}


def _load(name: str) -> Config:
    return Config.fromfile(str(ROOT / name))


def _resize(pipeline: list) -> dict:
    (step,) = [s for s in pipeline if s['type'] == 'Resize']
    return step


def test_every_config_is_a_listed_paper_row() -> None:
    assert sorted(p.name for p in ROOT.glob('*.py')) == sorted(ROWS)


@pytest.mark.parametrize('name', sorted(ROWS))
def test_config_encodes_its_row_and_builds(name: str) -> None:
    head_type, source, center_aware, scale, keep_ratio, depth = ROWS[name]
    cfg = _load(name)
    assert cfg.custom_imports == dict(imports=['centermask_mm'], allow_failed_imports=False)

    head = cfg.model.bbox_head
    assert head.type == head_type
    if head_type == 'SAISHead':
        assert cfg.model.type == 'SAIS'
        assert head.coeff_source == source and head.center_aware is center_aware
        assert head.num_protos == cfg.model.mask_head.num_protos == 32
        assert cfg.model.mask_head.with_seg_branch is False
    elif head_type == 'CenterAwareFCOSHead':
        assert head.center_aware is True
    assert cfg.model.backbone.depth == depth
    for pipeline in (cfg.train_dataloader.dataset.pipeline,
                     cfg.test_dataloader.dataset.pipeline):
        resize = _resize(pipeline)
        assert tuple(resize['scale']) == scale and resize['keep_ratio'] is keep_ratio

    # Paper schedule: SGD 0.01 / 0.9, 8 GPUs x 2 images, 12 epochs, lr / 10 at 8 and 11.
    assert cfg.optim_wrapper.optimizer.type == 'SGD'
    assert cfg.optim_wrapper.optimizer.lr == 0.01
    assert cfg.optim_wrapper.optimizer.momentum == 0.9
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 16
    assert cfg.train_cfg.max_epochs == 12
    (step,) = [s for s in cfg.param_scheduler if s['type'] == 'MultiStepLR']
    assert step['milestones'] == [8, 11] and step['gamma'] == 0.1

    # Weights come from a local path only.
    ckpt = cfg.model.backbone.init_cfg.checkpoint
    assert ckpt.startswith('data/pretrained/') and '://' not in ckpt

    register_all_modules()
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    if head_type != 'FCOSHead':
        assert type(model.bbox_head).__name__ == head_type


def test_toy_config_trains_the_paper_model_from_scratch() -> None:
    cfg = Config.fromfile(str(ROOT / 'toy' / 'sais_v2-19-slim-ese_fpn_toy.py'))
    head = cfg.model.bbox_head
    assert (head.coeff_source, head.center_aware, head.num_protos) == ('sum', True, 32)
    assert cfg.model.backbone.type == 'VoVNet' and cfg.model.backbone.init_cfg is None
    assert cfg.train_dataloader.dataset.type == 'CheckedCocoDataset'
    assert cfg.val_evaluator.metric == ['bbox', 'segm']
    assert _resize(cfg.train_dataloader.dataset.pipeline)['keep_ratio'] is False
