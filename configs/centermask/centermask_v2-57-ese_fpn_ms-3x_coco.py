# centermask2 CenterMask V2-57-FPN (VoVNetV2-57 with eSE), ms 3x. Mirrors centermask2's
# configs/centermask/centermask_V_57_eSE_FPN_ms_3x.yaml; otherwise as
# centermask_v2-39-ese_fpn_ms-3x_coco.py.
_base_ = './centermask_v2-39-ese_fpn_ms-3x_coco.py'

pretrained = 'data/pretrained/vovnet57_ese_detectron2.pth'
model = dict(
    backbone=dict(arch='V-57', init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
