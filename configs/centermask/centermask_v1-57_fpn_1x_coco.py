# Paper Table 3/4, VoVNetV1-57 (OSA modules without identity or attention): 63.0 M, 36.1 / 40.8 AP.
_base_ = './centermask_v2-57_fpn_1x_coco.py'

pretrained = 'data/pretrained/vovnet57_v1.pth'
model = dict(
    backbone=dict(
        residual=False, attention=None, init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
