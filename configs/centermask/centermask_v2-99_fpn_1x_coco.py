# Paper Table 3/4, VoVNetV2-99: 96.9 M params, 38.3 mask AP / 43.5 box AP.
_base_ = './centermask_v2-39_fpn_1x_coco.py'

pretrained = 'data/pretrained/vovnet99_ese_detectron2.pth'
model = dict(backbone=dict(arch='V-99', init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
