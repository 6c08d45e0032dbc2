# Paper Table 4, VoVNetV1-39 + residual + SE (two FCs, reduction 4, Eq. 5): 50.8 M, 34.6 / 39.0 AP.
# Replacing SE by eSE gives VoVNetV2-39 (centermask_v2-39_fpn_1x_coco.py).
_base_ = './centermask_v1-39_fpn_1x_coco.py'

model = dict(backbone=dict(residual=True, attention='se'))
