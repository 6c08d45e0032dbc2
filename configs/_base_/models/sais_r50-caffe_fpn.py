# SAIS, R-50-FPN (SAIS paper Sec. III-A, Fig. 1): caffe-style ResNet-50 C3-C5 -> FPN
# P3-P7 (256) -> SAIS head (FCOS: 4 + 4 GN convs; per location c classes, 1 centre
# score, 4 distances and k = 32 coefficients from the SUM of the two towers;
# center-aware targets, Eqs. 2-4) in parallel with a protonet on P3 (3 x conv3x3,
# x2 up, conv3x3, conv1x1 -> 32 prototypes at stride 4); mask = sigmoid(P C) cropped
# by the box. FCOS settings are mmdet's plain FCOS (the paper builds on mmdetection's
# FCOS without its later tricks). No semantic-segmentation loss (paper Sec. IV-B).
# Set `pretrained` to a local ImageNet checkpoint; nothing is downloaded. Tests build
# with init_cfg=None.
pretrained = 'data/pretrained/resnet50_caffe.pth'  # local detectron-style ResNet-50 weights
num_classes = 80
num_protos = 32

model = dict(
    type='SAIS',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[102.9801, 115.9465, 122.7717],
        std=[1.0, 1.0, 1.0],
        bgr_to_rgb=False,
        pad_size_divisor=32,
        pad_mask=True),
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        style='caffe',
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(
        type='FPN',
        in_channels=[256, 512, 1024, 2048],
        out_channels=256,
        start_level=1,
        add_extra_convs='on_output',
        num_outs=5,
        relu_before_extra_convs=True),
    bbox_head=dict(
        type='SAISHead',
        num_classes=num_classes,
        in_channels=256,
        stacked_convs=4,
        feat_channels=256,
        strides=[8, 16, 32, 64, 128],
        num_protos=num_protos,
        coeff_source='sum',  # Table III: 'sum' (w/ fusion) | 'cls' (w/o; released code)
        center_aware=True,  # Table II: center-aware targets (Eqs. 2-4) | FCOS min-area
        loss_cls=dict(
            type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type='IoULoss', loss_weight=1.0),
        loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
    mask_head=dict(
        type='SAISProtonet',
        num_classes=num_classes,
        in_channels=256,
        num_protos=num_protos,
        max_masks_to_train=100,
        loss_mask_weight=1.0,
        with_seg_branch=False),
    test_cfg=dict(
        nms_pre=1000,
        min_bbox_size=0,
        score_thr=0.05,
        nms=dict(type='nms', iou_threshold=0.5),
        max_per_img=100,
        mask_thr=0.5))
