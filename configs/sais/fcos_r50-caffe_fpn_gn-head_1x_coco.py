# FCOS R-50-FPN, 12 epochs, 1333x800 keep-ratio: Table II "FCOS o" (FCOS's
# smallest-area rule). mmdetection's plain FCOS config; only the pretrained weights
# come from a local path (nothing is downloaded).
_base_ = 'mmdet::fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py'
custom_imports = dict(imports=['centermask_mm'], allow_failed_imports=False)

pretrained = 'data/pretrained/resnet50_caffe.pth'  # local detectron-style ResNet-50 weights
model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
