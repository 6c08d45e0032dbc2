# mmdet's Mask R-CNN with the same VoVNetV2-19-slim backbone and the same 128-channel width
# as centermask-lite_v2-19-slim_fpn_toy.py, trained from scratch on the toy set with the same
# recipe: the comparison row of benchmarks/learn_toy.py. Mask R-CNN pools from C2-C5 (P2-P6).
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    '../../_base_/datasets/toy_instance.py',
    '../../_base_/schedules/toy_adamw_24e.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['centermask_mm'], allow_failed_imports=False)

num_classes = 5
width = 128
model = dict(
    backbone=dict(
        _delete_=True,
        type='VoVNet',
        arch='V-19-slim',
        residual=True,
        attention='ese',
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        init_cfg=None),
    neck=dict(in_channels=[112, 256, 384, 512], out_channels=width),
    rpn_head=dict(in_channels=width, feat_channels=width),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=width),
        bbox_head=dict(in_channels=width, num_classes=num_classes),
        mask_roi_extractor=dict(out_channels=width),
        mask_head=dict(in_channels=width, conv_out_channels=width, num_classes=num_classes)),
    train_cfg=dict(rcnn=dict(sampler=dict(num=128))))

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval={{_base_.max_epochs}}, max_keep_ckpts=1))
