# centermask2 CenterMask V2-39-FPN (VoVNetV2-39 with eSE), ms 3x. Mirrors centermask2's
# configs/centermask/centermask_V_39_eSE_FPN_ms_3x.yaml (Base-CenterMask-VoVNet.yaml):
# FREEZE_AT 0 (no conv frozen, all BN frozen), stage3-5 into the FPN; input, FCOS,
# mask branch, schedule and post-processing as centermask_r50-caffe_fpn_ms-3x_coco.py.
# Published weights: centermask2-V-39-eSE-FPN-ms-3x.pth (39.7 mask / 44.2 box AP).
_base_ = './centermask_r50-caffe_fpn_ms-3x_coco.py'

pretrained = 'data/pretrained/vovnet39_ese_detectron2.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='VoVNet',
        arch='V-39',
        residual=True,
        attention='ese',
        out_indices=(1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[512, 768, 1024]))
