# centermask2 CenterMask-Lite MobileNetV2-FPN, ms 4x. Mirrors centermask2's
# configs/centermask/centermask_lite_Mv2_FPN_ms_4x.yaml: its own MobileNetV2 (FrozenBN,
# ReLU6, no final 1x1 conv), res3-5 = the stride-8/16/32 outputs of 32/96/320 channels
# (TruncatedMobileNetV2 out_indices (2, 4, 6)), FREEZE_AT 0. The yaml sets no PIXEL_MEAN /
# PIXEL_STD, so detectron2's defaults apply: BGR, mean (103.53, 116.28, 123.675), std 1
# ("-bgr" tells it from the paper's RGB-normalised centermask-lite_mobilenetv2_fpn_4x_coco.py).
# Published weights: centermask_lite_Mv2_ms_4x.pth (27.2 mask / 29.8 box AP).
_base_ = './centermask-lite_v2-19-ese_fpn_ms-4x_coco.py'

pretrained = 'data/pretrained/mobilenet_v2_detectron2.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='TruncatedMobileNetV2',
        out_indices=(2, 4, 6),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[32, 96, 320]))
