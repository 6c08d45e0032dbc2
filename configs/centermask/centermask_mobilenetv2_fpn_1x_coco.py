# Paper Table 3, MobileNetV2: 28.7 M params, 29.5 mask AP / 32.6 box AP. C3-C5 are the
# stride-8/16/32 stages (32/96/320 channels). TruncatedMobileNetV2 is mmdet's MobileNetV2
# without its final 320->1280 conv, which CenterMask never reads (0.41 M parameters that
# would run every pass and get no gradient; see docs/centermask.md).
_base_ = './centermask_r50_fpn_1x_coco.py'

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
