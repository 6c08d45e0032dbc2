# centermask2 CenterMask V2-99-FPN (VoVNetV2-99 with eSE), ms 3x. Mirrors centermask2's
# configs/centermask/centermask_V_99_eSE_FPN_ms_3x.yaml; otherwise as
# centermask_v2-39-ese_fpn_ms-3x_coco.py.
_base_ = './centermask_v2-39-ese_fpn_ms-3x_coco.py'

pretrained = 'data/pretrained/vovnet99_ese_detectron2.pth'
model = dict(
    backbone=dict(arch='V-99', init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
