"""Foundation smoke: mmdet's own Mask R-CNN trains on the toy set and CocoMetric evaluates it."""
from __future__ import annotations

import math
from pathlib import Path

from mmengine.config import Config
from mmengine.runner import Runner

from centermask_mm.testing import point_to_toy

CFG = Path(__file__).parent / "configs" / "mask-rcnn_tiny_toy.py"


def test_mmdet_mask_rcnn_trains_and_evaluates(tiny_toy: Path, tmp_path: Path) -> None:
    cfg = point_to_toy(Config.fromfile(str(CFG)), tiny_toy)
    cfg.work_dir = str(tmp_path)
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    for key in ("coco/bbox_mAP", "coco/segm_mAP", "coco/segm_mAP_s", "coco/bbox_mAP_l"):
        assert key in metrics and (math.isfinite(metrics[key]) or metrics[key] == -1.0)
    assert (tmp_path / "iter_4.pth").is_file()
