# Original CenterMask (maskrcnn-benchmark) X-101-32x8d-FPN, ms 3x, for
# centermask-X-101-FPN-ms-3x.pth (39.1 mask / 44.4 box AP val2017; 39.6 / 44.6 test-dev).
# Mirrors centermask_X_101_FPN_ms_3x.yaml: STRIDE_IN_1X1 False (style='pytorch'),
# NUM_GROUPS 32, WIDTH_PER_GROUP 8; the yaml keeps maskrcnn-benchmark's PIXEL_MEAN and
# PIXEL_STD (1, 1, 1).
_base_ = './centermask-mb_r101-caffe_fpn_ms-3x_coco.py'

pretrained = 'data/pretrained/resnext101_32x8d_fair.pth'  # FAIR/20171220/X-101-32x8d
model = dict(
    backbone=dict(
        type='ResNeXt',
        depth=101,
        groups=32,
        base_width=8,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
