# CenterMask with VoVNetV2-39 (OSA + identity + eSE), C3-C5 = 512/768/1024 channels.
# Normalisation as centermask2's ImageNet VoVNet weights expect (BGR, mean only). Set
# `pretrained` to a local checkpoint converted with centermask_mm.converters.
_base_ = './centermask_r50_fpn.py'

pretrained = 'data/pretrained/vovnet39_ese_detectron2.pth'
model = dict(
    data_preprocessor=dict(
        mean=[103.53, 116.28, 123.675], std=[1.0, 1.0, 1.0], bgr_to_rgb=False),
    backbone=dict(
        _delete_=True,
        type='VoVNet',
        arch='V-39',
        residual=True,
        attention='ese',
        out_indices=(1, 2, 3),
        frozen_stages=-1,  # centermask2 FREEZE_AT 0: no conv frozen, all BN frozen
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[512, 768, 1024]))
