# CenterMask-Lite with VoVNetV2-19-slim, trained from scratch on the synthetic toy set
# (configs/_base_/datasets/toy_instance.py: 256 x 256 images, 5 shape classes) on CPU.
# The "it learns" model of the issue; benchmarks/learn_toy.py runs it under a wall-clock
# budget against mask-rcnn_v2-19-slim_fpn_toy.py. Differences from the COCO Lite configs,
# all because there are no pretrained weights and only a CPU: trainable BN, ImageNet-style
# standardisation, AdamW with warm-up and gradient clipping, 5 classes, and at most 16
# positive RoIs per image for the mask branch (toy images hold at most 6 objects).
_base_ = [
    '../../_base_/models/centermask-lite_v2-19_fpn.py',
    '../../_base_/datasets/toy_instance.py',
    '../../_base_/schedules/toy_adamw_24e.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['centermask_mm'], allow_failed_imports=False)

num_classes = 5
model = dict(
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    backbone=dict(
        arch='V-19-slim',
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        init_cfg=None),
    neck=dict(in_channels=[256, 384, 512]),
    bbox_head=dict(num_classes=num_classes),
    roi_head=dict(
        mask_head=dict(num_classes=num_classes),
        mask_iou_head=dict(num_classes=num_classes)),
    train_cfg=dict(mask=dict(sampler=dict(num=64))))

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval={{_base_.max_epochs}}, max_keep_ckpts=1))
