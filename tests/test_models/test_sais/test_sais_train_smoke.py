"""SAIS trains a few iterations on the tiny toy set with mmengine's Runner and CocoMetric
evaluates it (the toy config, resized to the tiny set's 128 px)."""
from __future__ import annotations

import math
from pathlib import Path

from mmengine.config import Config
from mmengine.runner import Runner

from centermask_mm.testing import point_to_toy

TOY = Path(__file__).parents[3] / 'configs' / 'sais' / 'toy' / 'sais_v2-19-slim-ese_fpn_toy.py'


def test_sais_toy_config_trains_and_evaluates(tiny_toy: Path, tmp_path: Path) -> None:
    cfg = point_to_toy(Config.fromfile(str(TOY)), tiny_toy)
    cfg.work_dir = str(tmp_path)
    for pipeline in (cfg.train_dataloader.dataset.pipeline,
                     cfg.val_dataloader.dataset.pipeline,
                     cfg.test_dataloader.dataset.pipeline):
        for step in pipeline:
            if step['type'] == 'Resize':
                step['scale'] = (128, 128)
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=2, val_interval=2)
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=2)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    runner.train()
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(losses) == 4 and all(math.isfinite(v) for v in losses)
    metrics = runner.test()
    for key in ('coco/bbox_mAP', 'coco/segm_mAP', 'coco/segm_mAP_50', 'coco/segm_mAP_l'):
        assert key in metrics and (0.0 <= metrics[key] <= 1.0 or metrics[key] == -1.0)
    assert (tmp_path / 'epoch_2.pth').is_file()
