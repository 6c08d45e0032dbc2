# Paper Table 5, CenterMask-Lite M-v2-FPN (MobileNetV2), 48 epochs, [580, 600] jitter.
# 26.7 / 30.2 AP.
_base_ = './centermask-lite_r50_fpn_4x_coco.py'

pretrained = 'data/pretrained/mobilenet_v2.pth'  # local ImageNet weights
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
