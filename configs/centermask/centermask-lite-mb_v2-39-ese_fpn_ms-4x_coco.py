# Original CenterMask (maskrcnn-benchmark) CenterMask-Lite V2-39-FPN, 4x, for
# centermask-lite-V-39-eSE-ms-bs16-4x.pth (36.3 mask / 40.7 box AP, test-dev). Mirrors
# centermask_V_39_eSE_FPN_lite_res600_ms_bs16_4x.yaml (FREEZE_CONV_BODY_AT 0).
_base_ = './centermask-lite-mb_r50-caffe_fpn_ms-4x_coco.py'

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
