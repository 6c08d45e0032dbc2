# CenterMask R-50-FPN as the original CenterMask repository builds it (youngwanLEE/CenterMask,
# maskrcnn-benchmark + FCOS, "[CM]"; configs/centermask/centermask_R_50_FPN_ms_*.yaml and
# maskrcnn_benchmark/config/defaults.py), for its published checkpoints converted with
# `python -m centermask_mm.converters.centermask2` (maskrcnn-benchmark scheme).
# - Input: BGR, PIXEL_MEAN (102.9801, 115.9465, 122.7717), PIXEL_STD (1, 1, 1),
#   SIZE_DIVISIBILITY 32.
# - Backbone: maskrcnn-benchmark ResNet, STRIDE_IN_1X1 True (mmdet style='caffe'),
#   FrozenBatchNorm2d, FREEZE_CONV_BODY_AT 2 (frozen_stages=1). Its FrozenBatchNorm2d divides
#   by sqrt(running_var) without eps, hence eps=0 here (not 1e-5).
# - FCOS: regression exp(Scale * x) in pixels (norm_on_bbox=False), centerness on the box
#   tower, INFERENCE_TH 0.03, PRE_NMS_TOP_N 1000 per level, NMS 0.6, 100 training
#   proposals, TEST.DETECTIONS_PER_IMG 50, boxes clipped before NMS, score cls * ctr.
# - Mask RoIs: legacy RoIAlign (aligned=False), POOLER_SAMPLING_RATIO 2, 14x14, P3-P5,
#   Eq. 2 ("CenterMaskLevelMapFunc").
# Not reproduced exactly (documented in docs/centermask.md): [CM] ranks the per-level
# pre-NMS top 1000 by cls * ctr (mmdet by cls; equal unless a level has > 1000 candidates),
# keeps zero-size boxes (maskrcnn-benchmark's remove_small_boxes with min_size 0 counts
# w = x2 - x1 + 1), adds +1 to box sides in the Eq. 2 area, and pastes masks with its own
# Masker. The post-processing switch is 'mmdet' (cls * ctr, clipped boxes), the closest.
_base_ = './centermask_r50_fpn.py'

pretrained = 'data/pretrained/resnet50_msra_caffe.pth'  # maskrcnn-benchmark MSRA/R-50
frozen_bn = dict(type='BN', requires_grad=False, eps=0.0)  # maskrcnn-benchmark: no eps
cm_score_thr = 0.03
model = dict(
    data_preprocessor=dict(
        mean=[102.9801, 115.9465, 122.7717], std=[1.0, 1.0, 1.0], bgr_to_rgb=False,
        pad_size_divisor=32),
    backbone=dict(
        style='caffe',
        frozen_stages=1,
        norm_cfg=frozen_bn,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    bbox_head=dict(norm_on_bbox=False),
    roi_head=dict(
        mask_roi_extractor=dict(
            roi_layer=dict(type='RoIAlign', output_size=14, sampling_ratio=2, aligned=False))),
    # [CM]'s FCOS settings are the base's (the paper's): threshold 0.03, 1000 per level,
    # NMS 0.6, 100 training / 50 test boxes, mmdet post-processing.
    train_cfg=dict(fcos_proposal=dict(score_thr=cm_score_thr)),
    test_cfg=dict(fcos=dict(score_thr=cm_score_thr)))
