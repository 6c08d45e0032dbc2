# Paper Table 3/4, VoVNetV1-99 (OSA modules without identity or attention): 83.6 M, 31.5 / 35.3 AP.
_base_ = './centermask_v2-99_fpn_1x_coco.py'

pretrained = 'data/pretrained/vovnet99_v1.pth'
model = dict(
    backbone=dict(
        residual=False, attention=None, init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
