# Paper Table 3/4, VoVNetV2-57: 68.9 M params, 36.6 mask AP / 41.5 box AP.
_base_ = './centermask_v2-39_fpn_1x_coco.py'

pretrained = 'data/pretrained/vovnet57_ese_detectron2.pth'
model = dict(backbone=dict(arch='V-57', init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
