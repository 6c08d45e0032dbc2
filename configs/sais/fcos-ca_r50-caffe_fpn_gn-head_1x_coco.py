# FCOS R-50-FPN with SAIS's center-aware targets (Eqs. 2-4): Table II "FCOS w/ c".
# Identical to fcos_r50-caffe_fpn_gn-head_1x_coco.py except for the target rule.
_base_ = './fcos_r50-caffe_fpn_gn-head_1x_coco.py'
custom_imports = dict(imports=['centermask_mm'], allow_failed_imports=False)

model = dict(bbox_head=dict(type='CenterAwareFCOSHead', center_aware=True))
