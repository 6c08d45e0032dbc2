# centermask2 CenterMask-Lite V-19-Slim-DW-FPN, ms 4x. Mirrors centermask2's
# configs/centermask/centermask_lite_V_19_slim_dw_eSE_FPN_ms_4x.yaml:
# VoVNetV2-19-slim-dw-eSE (depthwise-separable OSA layers; FPN reads 256/384/512);
# otherwise as centermask-lite_v2-19-ese_fpn_ms-4x_coco.py. This is the model of the
# centermask2 reference fixture (tests/data/centermask2/).
# Published weights: centermask-lite-V-19-eSE-slim-dw-FPN-ms-4x.pth (27.1 mask / 29.5 box AP).
_base_ = './centermask-lite_v2-19-ese_fpn_ms-4x_coco.py'

pretrained = 'data/pretrained/vovnet19_ese_slim_dw_detectron2.pth'
model = dict(
    backbone=dict(arch='V-19-slim-dw', init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[256, 384, 512]))
