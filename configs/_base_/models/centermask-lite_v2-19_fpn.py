# CenterMask-Lite with VoVNetV2-19 (one OSA module of 3 layers per stage, eSE).
_base_ = './centermask-lite_r50_fpn.py'

pretrained = 'data/pretrained/vovnet19_ese_detectron2.pth'
model = dict(
    data_preprocessor=dict(
        mean=[103.53, 116.28, 123.675], std=[1.0, 1.0, 1.0], bgr_to_rgb=False),
    backbone=dict(
        _delete_=True,
        type='VoVNet',
        arch='V-19',
        residual=True,
        attention='ese',
        out_indices=(1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[512, 768, 1024]))
