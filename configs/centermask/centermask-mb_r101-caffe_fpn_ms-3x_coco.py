# Original CenterMask (maskrcnn-benchmark) R-101-FPN, ms 3x, for centermask-R-101-FPN-ms-3x.pth
# (38.6 mask / 43.7 box AP, val2017). Mirrors centermask_R_101_FPN_ms_3x.yaml.
_base_ = './centermask-mb_r50-caffe_fpn_ms-3x_coco.py'

pretrained = 'data/pretrained/resnet101_msra_caffe.pth'
model = dict(
    backbone=dict(depth=101, init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
