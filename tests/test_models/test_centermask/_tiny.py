"""A tiny CenterMask (VoVNetV2-19-slim-dw, 32-channel FPN and heads) for CPU unit tests."""
from __future__ import annotations

import copy
from pathlib import Path

import torch
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[3]
TOY_CFG = REPO / "configs/centermask/toy/centermask-lite_v2-19-slim-dw_fpn_toy.py"
W = 32  # width of FPN and every head


def tiny_model_cfg(options: dict | None = None) -> Config:
    """Model config of the toy CenterMask-Lite shrunk to 32 channels (5 classes).

    ``options`` are dotted keys relative to ``model`` (``{'roi_head.mask_iou_head': None}``).
    """
    cfg = copy.deepcopy(Config.fromfile(str(TOY_CFG)).model)
    cfg.neck.out_channels = W
    cfg.bbox_head.update(in_channels=W, feat_channels=W, norm_cfg=dict(type="GN", num_groups=8))
    cfg.roi_head.mask_roi_extractor.out_channels = W
    cfg.roi_head.mask_head.update(in_channels=W, conv_out_channels=W)
    cfg.roi_head.mask_iou_head.update(in_channels=W, conv_out_channels=W, fc_out_channels=64)
    wrapper = Config(dict(model=cfg))
    if options:
        wrapper.merge_from_dict({f"model.{k}": v for k, v in options.items()})
    return wrapper.model


def build_tiny(options: dict | None = None):
    """Build the tiny model with a fixed seed, in eval-independent default (train) mode."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    register_all_modules()
    torch.manual_seed(0)
    return MODELS.build(tiny_model_cfg(options))
