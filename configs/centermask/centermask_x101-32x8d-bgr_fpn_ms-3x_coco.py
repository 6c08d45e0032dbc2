# centermask2 CenterMask X-101-32x8d-FPN, ms 3x. Mirrors centermask2's
# configs/centermask/centermask_X_101_FPN_ms_3x.yaml: RESNETS.STRIDE_IN_1X1 False (stride
# in the 3x3 conv, mmdet style='pytorch'), NUM_GROUPS 32, WIDTH_PER_GROUP 8, DEPTH 101,
# PIXEL_STD (57.375, 57.120, 58.395) with detectron2's BGR PIXEL_MEAN. "-bgr" tells this
# detectron2-preprocessed config from the paper's centermask_x101-32x8d_fpn_ms-3x_coco.py.
# No CenterMask X-101 weights are published by centermask2.
_base_ = './centermask_r101-caffe_fpn_ms-3x_coco.py'

pretrained = 'data/pretrained/resnext101_32x8d_fair_bgr.pth'  # detectron2 X-101-32x8d.pkl
model = dict(
    data_preprocessor=dict(std=[57.375, 57.12, 58.395]),
    backbone=dict(
        type='ResNeXt',
        depth=101,
        groups=32,
        base_width=8,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
