"""End-to-end CPU smoke: CenterMask-Lite trains a few iterations on the toy set and CocoMetric
evaluates it (bbox and segm), through mmengine's Runner and the shipped toy config."""
from __future__ import annotations

import math
from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.runner import Runner

from centermask_mm.testing import point_to_toy

from ._tiny import TOY_CFG


def _resize_to(cfg: Config, size: int) -> None:
    for loader in ("train_dataloader", "val_dataloader", "test_dataloader"):
        for step in cfg[loader].dataset.pipeline:
            if step.type == "Resize":
                step.scale = (size, size)


def test_centermask_lite_trains_and_evaluates(tiny_toy: Path, tmp_path: Path) -> None:
    cfg = point_to_toy(Config.fromfile(str(TOY_CFG)), tiny_toy)
    _resize_to(cfg, 128)  # the tiny set is 128 px; keep it so
    cfg.work_dir = str(tmp_path)
    cfg.train_dataloader.batch_size = 2
    cfg.val_dataloader.batch_size = 2
    cfg.test_dataloader = cfg.val_dataloader
    cfg.train_cfg = dict(type="IterBasedTrainLoop", max_iters=3, val_interval=3)
    cfg.param_scheduler = []
    cfg.default_hooks.logger = dict(type="LoggerHook", interval=1)
    cfg.default_hooks.checkpoint = dict(type="CheckpointHook", interval=3, by_epoch=False)
    cfg.log_processor = dict(by_epoch=False)
    # A random-init FCOS scores ~0.01: lower the test threshold so the mask branch and the
    # segm evaluation really run on detections.
    cfg.model.test_cfg.fcos.score_thr = 0.0
    cfg.model.test_cfg.fcos.max_per_img = 10
    runner = Runner.from_cfg(cfg)
    before = {k: v.clone() for k, v in runner.model.state_dict().items()}
    runner.train()
    changed = [k for k, v in runner.model.state_dict().items()
               if v.dtype.is_floating_point and not torch.equal(v, before[k])]
    assert any(k.startswith("roi_head.mask_head") for k in changed)
    assert any(k.startswith("roi_head.mask_iou_head") for k in changed)
    assert any(k.startswith("bbox_head") for k in changed)
    metrics = runner.test()
    for key in ("coco/bbox_mAP", "coco/segm_mAP", "coco/segm_mAP_50", "coco/bbox_mAP_l"):
        assert key in metrics and (math.isfinite(metrics[key]) or metrics[key] == -1.0), key
    assert (tmp_path / "iter_3.pth").is_file()
