# Paper Table 4, VoVNetV1-57 + residual (identity on OSA modules 2..n of each stage):
# 63.0 M, 36.4 / 41.1 AP.
_base_ = './centermask_v1-57_fpn_1x_coco.py'

model = dict(backbone=dict(residual=True))
