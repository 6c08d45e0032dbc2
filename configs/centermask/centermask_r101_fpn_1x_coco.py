# Paper Table 3, ResNet-101: 70.1 M params, 36.0 mask AP / 40.7 box AP.
_base_ = './centermask_r50_fpn_1x_coco.py'

pretrained = 'data/pretrained/resnet101.pth'  # local torchvision-style weights
model = dict(
    backbone=dict(depth=101, init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
