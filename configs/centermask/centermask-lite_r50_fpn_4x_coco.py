# Paper Table 5, CenterMask-Lite R-50-FPN, 48 epochs, [580, 600] jitter. 32.9 / 36.7 AP.
_base_ = './centermask-lite_v2-19_fpn_4x_coco.py'

pretrained = 'data/pretrained/resnet50.pth'  # local torchvision-style weights
model = dict(
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    backbone=dict(
        _delete_=True,
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[512, 1024, 2048]))
