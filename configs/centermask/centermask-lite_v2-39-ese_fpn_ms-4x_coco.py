# centermask2 CenterMask-Lite V-39-FPN, ms 4x. Mirrors centermask2's
# configs/centermask/centermask_lite_V_39_eSE_FPN_ms_4x.yaml: VoVNetV2-39-eSE; otherwise
# as centermask-lite_v2-19-ese_fpn_ms-4x_coco.py.
# Published weights: centermask2-lite-V-39-eSE-FPN-ms-4x.pth (36.7 mask / 40.9 box AP).
_base_ = './centermask-lite_v2-19-ese_fpn_ms-4x_coco.py'

pretrained = 'data/pretrained/vovnet39_ese_detectron2.pth'
model = dict(backbone=dict(arch='V-39', init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
