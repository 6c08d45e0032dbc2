# Paper Table 4, VoVNetV1-57 + residual + SE (two FCs, reduction 4, Eq. 5): 65.9 M, 35.9 / 40.8 AP.
# Replacing SE by eSE gives VoVNetV2-57 (centermask_v2-57_fpn_1x_coco.py).
_base_ = './centermask_v1-57_fpn_1x_coco.py'

model = dict(backbone=dict(residual=True, attention='se'))
