# Paper Table 4, VoVNetV1-99 + residual (identity on OSA modules 2..n of each stage):
# 83.6 M, 37.6 / 42.5 AP.
_base_ = './centermask_v1-99_fpn_1x_coco.py'

model = dict(backbone=dict(residual=True))
