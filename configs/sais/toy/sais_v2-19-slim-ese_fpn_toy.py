# SAIS on the synthetic toy set, trained from scratch on CPU (2 cores, <= 15 min).
# Paper model (sum fusion, center-aware targets, 32 prototypes, fixed square input) on
# a small backbone: VoVNetV2-19-slim with eSE (CenterMask-Lite's backbone), C3-C5 ->
# FPN P3-P7 (128 ch) -> SAIS head with 2 + 2 GN convs of 128 ch; protonet of 128 ch.
# The detector half is exactly the CenterMask-Lite toy config's FCOS (widths, levels,
# regression ranges, centre sampling, GIoU, centreness on the box tower), so the "it
# learns" comparison between the two differs only in how masks are made.
#   python -m centermask_mm.datasets.toy --out data/toy
#   python tools/train.py configs/sais/toy/sais_v2-19-slim-ese_fpn_toy.py \
#       --work-dir work_dirs/sais_toy
_base_ = [
    '../../_base_/datasets/toy_instance.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['centermask_mm'], allow_failed_imports=False)

num_classes = 5
num_protos = 32
channels = 128  # CenterMask-Lite's width
model = dict(
    type='SAIS',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32,
        pad_mask=True),
    backbone=dict(
        type='VoVNet',
        arch='V-19-slim',
        residual=True,
        attention='ese',
        out_indices=(1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),  # from scratch: BN trains
        norm_eval=False,
        init_cfg=None),
    neck=dict(
        type='FPN',
        in_channels=[256, 384, 512],
        out_channels=channels,
        start_level=0,
        add_extra_convs='on_output',
        num_outs=5,
        relu_before_extra_convs=True),
    bbox_head=dict(
        type='SAISHead',
        num_classes=num_classes,
        in_channels=channels,
        feat_channels=channels,
        stacked_convs=2,
        strides=[8, 16, 32, 64, 128],
        conv_bias=True,
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
        norm_on_bbox=True,
        centerness_on_reg=True,
        center_sampling=True,
        center_sample_radius=1.5,
        num_protos=num_protos,
        coeff_source='sum',
        center_aware=True,
        loss_cls=dict(
            type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=1.0),
        loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
    mask_head=dict(
        type='SAISProtonet',
        num_classes=num_classes,
        in_channels=channels,
        num_protos=num_protos,
        proto_channels=(channels, channels, channels, None, channels, num_protos),
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

# Fixed square input, as in the paper (the toy images are 256 x 256 already).
image_scale = (256, 256)
backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=image_scale, keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=image_scale, keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(batch_size=4, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

# From scratch on a small set: AdamW with warm-up and a cosine decay, as the CenterMask-Lite
# toy config (configs/centermask/toy/), so the two compare under the same recipe.
max_epochs = 24
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=4)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.001, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min_ratio=0.01, begin=0,
         end=max_epochs, by_epoch=True, convert_to_iter_based=True),
]
auto_scale_lr = dict(enable=False, base_batch_size=4)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=max_epochs, max_keep_ckpts=1))
