# centermask2 CenterMask R-101-FPN, ms 3x. Mirrors centermask2's
# configs/centermask/centermask_R_101_FPN_ms_3x.yaml (RESNETS.DEPTH 101, MSRA R-101
# ImageNet weights); otherwise as centermask_r50-caffe_fpn_ms-3x_coco.py. No CenterMask
# R-101 weights are published by centermask2.
_base_ = './centermask_r50-caffe_fpn_ms-3x_coco.py'

pretrained = 'data/pretrained/resnet101_msra_caffe.pth'  # detectron2 MSRA/R-101.pkl
model = dict(
    backbone=dict(depth=101, init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
