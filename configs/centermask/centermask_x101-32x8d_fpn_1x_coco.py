# Paper Table 3, ResNeXt-101-32x8d: 114.3 M params, 38.3 mask AP / 43.1 box AP.
_base_ = './centermask_r50_fpn_1x_coco.py'

pretrained = 'data/pretrained/resnext101_32x8d.pth'  # local torchvision-style weights
model = dict(
    backbone=dict(
        type='ResNeXt',
        depth=101,
        groups=32,
        base_width=8,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
