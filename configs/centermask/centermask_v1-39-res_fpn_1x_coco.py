# Paper Table 4, VoVNetV1-39 + residual (identity on OSA modules 2..n of each stage):
# 49.0 M, 35.5 / 39.8 AP.
_base_ = './centermask_v1-39_fpn_1x_coco.py'

model = dict(backbone=dict(residual=True))
