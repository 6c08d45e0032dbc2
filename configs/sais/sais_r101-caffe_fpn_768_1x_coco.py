# SAIS-768, R-101-FPN, 12 epochs (Table IV "SAIS-768 ResNet-101-FPN").
_base_ = './sais_r50-caffe_fpn_768_1x_coco.py'
custom_imports = dict(imports=['centermask_mm'], allow_failed_imports=False)

pretrained = 'data/pretrained/resnet101_caffe.pth'  # local detectron-style ResNet-101 weights
model = dict(
    backbone=dict(depth=101, init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
