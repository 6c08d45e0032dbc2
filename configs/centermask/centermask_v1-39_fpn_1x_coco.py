# Paper Table 3/4, VoVNetV1-39 (OSA modules without identity or attention): 49.0 M, 35.3 / 39.7 AP.
_base_ = './centermask_v2-39_fpn_1x_coco.py'

pretrained = 'data/pretrained/vovnet39_v1.pth'
model = dict(
    backbone=dict(
        residual=False, attention=None, init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
