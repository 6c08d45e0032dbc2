# Paper Table 5, CenterMask-Lite V-39-FPN, 48 epochs, [580, 600] jitter. 36.3 / 40.7 AP.
_base_ = './centermask-lite_v2-19_fpn_4x_coco.py'

pretrained = 'data/pretrained/vovnet39_ese_detectron2.pth'
model = dict(backbone=dict(arch='V-39', init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
