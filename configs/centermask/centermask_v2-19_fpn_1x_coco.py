# Paper Table 3, VoVNetV2-19 (full CenterMask heads): 37.6 M params, 32.2 / 35.9 AP.
_base_ = './centermask_v2-39_fpn_1x_coco.py'

pretrained = 'data/pretrained/vovnet19_ese_detectron2.pth'
model = dict(backbone=dict(arch='V-19', init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
