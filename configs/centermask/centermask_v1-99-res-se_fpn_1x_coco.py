# Paper Table 4, VoVNetV1-99 + residual + SE (two FCs, reduction 4, Eq. 5): 88.0 M, 37.1 / 41.9 AP.
# Replacing SE by eSE gives VoVNetV2-99 (centermask_v2-99_fpn_1x_coco.py).
_base_ = './centermask_v1-99_fpn_1x_coco.py'

model = dict(backbone=dict(residual=True, attention='se'))
