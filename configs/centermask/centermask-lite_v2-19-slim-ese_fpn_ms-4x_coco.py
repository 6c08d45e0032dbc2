# centermask2 CenterMask-Lite V-19-Slim-FPN, ms 4x. Mirrors centermask2's
# configs/centermask/centermask_lite_V_19_slim_eSE_FPN_ms_4x.yaml: VoVNetV2-19-slim-eSE
# (stage outputs 112/256/384/512, so the FPN reads 256/384/512); otherwise as
# centermask-lite_v2-19-ese_fpn_ms-4x_coco.py.
# Published weights: centermask-lite-V-19-eSE-slim-FPN-ms-4x.pth (29.8 mask / 32.5 box AP).
_base_ = './centermask-lite_v2-19-ese_fpn_ms-4x_coco.py'

pretrained = 'data/pretrained/vovnet19_ese_slim_detectron2.pth'
model = dict(
    backbone=dict(arch='V-19-slim', init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[256, 384, 512]))
