# Paper Table 5, CenterMask X-101-32x8d-FPN, 36 epochs, scale jitter. 39.6 / 44.6 AP.
_base_ = './centermask_r101_fpn_ms-3x_coco.py'

pretrained = 'data/pretrained/resnext101_32x8d.pth'
model = dict(
    backbone=dict(
        type='ResNeXt',
        depth=101,
        groups=32,
        base_width=8,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
