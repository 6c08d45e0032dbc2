# SAIS-768, ResNeXt-101-FPN, 12 epochs (Table IV "SAIS-768 ResNeXt-101-FPN").
# The paper does not name the ResNeXt variant; 64x4d is mmdetection's FCOS ResNeXt-101.
# ResNeXt weights are PyTorch-style, so the input is RGB, ImageNet mean/std.
_base_ = './sais_r50-caffe_fpn_768_1x_coco.py'
custom_imports = dict(imports=['centermask_mm'], allow_failed_imports=False)

pretrained = 'data/pretrained/resnext101_64x4d.pth'  # local ImageNet ResNeXt-101 64x4d
model = dict(
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    # the base's C2-C5 ResNet settings, as a pytorch-style ResNeXt whose BN trains
    backbone=dict(
        type='ResNeXt',
        depth=101,
        groups=64,
        base_width=4,
        norm_cfg=dict(requires_grad=True),
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
