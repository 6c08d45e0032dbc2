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
    '../../_base_/models/sais_r50-caffe_fpn.py',
    '../../_base_/datasets/toy_instance.py',
    '../../_base_/schedules/toy_adamw_24e.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['centermask_mm'], allow_failed_imports=False)

pretrained = None  # from scratch: the base's ImageNet checkpoint is not used
num_classes = 5
channels = 128  # CenterMask-Lite's width
model = dict(
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    backbone=dict(
        _delete_=True,
        type='VoVNet',
        arch='V-19-slim',
        residual=True,
        attention='ese',
        out_indices=(1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),  # from scratch: BN trains
        norm_eval=False,
        init_cfg=None),
    neck=dict(in_channels=[256, 384, 512], out_channels=channels, start_level=0),
    bbox_head=dict(
        num_classes=num_classes,
        in_channels=channels,
        feat_channels=channels,
        stacked_convs=2,
        conv_bias=True,
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
        norm_on_bbox=True,
        centerness_on_reg=True,
        center_sampling=True,
        center_sample_radius=1.5,
        loss_bbox=dict(type='GIoULoss', loss_weight=1.0)),
    mask_head=dict(
        num_classes=num_classes,
        in_channels=channels,
        proto_channels=(channels, channels, channels, None, channels, {{_base_.num_protos}})))

# Fixed square input, as in the paper (the toy images are 256 x 256 already).
train_pipeline = [dict(step, keep_ratio=False) if step.type == 'Resize' else step
                  for step in _base_.train_pipeline]
test_pipeline = [dict(step, keep_ratio=False) if step.type == 'Resize' else step
                 for step in _base_.test_pipeline]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval={{_base_.max_epochs}}, max_keep_ckpts=1))
