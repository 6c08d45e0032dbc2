# SAIS-768, ResNeXt-101-FPN, 12 epochs (Table IV "SAIS-768 ResNeXt-101-FPN").
# The paper does not name the ResNeXt variant; 64x4d is mmdetection's FCOS ResNeXt-101.
# ResNeXt weights are PyTorch-style, so the input is RGB, ImageNet mean/std.
_base_ = './sais_r50-caffe_fpn_768_1x_coco.py'
custom_imports = dict(imports=['centermask_mm'], allow_failed_imports=False)

pretrained = 'data/pretrained/resnext101_64x4d.pth'  # local ImageNet ResNeXt-101 64x4d
model = dict(
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    backbone=dict(
        _delete_=True,
        type='ResNeXt',
        depth=101,
        groups=64,
        base_width=4,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
