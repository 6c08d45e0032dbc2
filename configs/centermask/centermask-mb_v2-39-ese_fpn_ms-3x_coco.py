# Original CenterMask (maskrcnn-benchmark) V2-39-FPN, ms 3x, for centermask-V2-39-FPN-ms-3x.pth
# (38.5 mask / 43.5 box AP, val2017). Mirrors centermask_V_39_eSE_FPN_ms_3x.yaml:
# "V-39-eSE-FPN-RETINANET" (module names as centermask2's VoVNet, eSE in every OSA module),
# FREEZE_CONV_BODY_AT 0, FrozenBatchNorm2d without eps.
_base_ = './centermask-mb_r50-caffe_fpn_ms-3x_coco.py'

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
        norm_cfg={{_base_.frozen_bn}},
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[512, 768, 1024]))
