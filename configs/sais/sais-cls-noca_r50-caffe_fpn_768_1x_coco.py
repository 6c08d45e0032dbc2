# SAIS-768 R-50, classification-tower coefficients, FCOS min-area targets (no
# center-aware ground truth). This is also the released code's variant (reference
# spec Sec. 8.2). Rows: Table II "SAIS o" and Table I "fixed size (768, 768)".
_base_ = './sais_r50-caffe_fpn_768_1x_coco.py'
custom_imports = dict(imports=['centermask_mm'], allow_failed_imports=False)

model = dict(bbox_head=dict(coeff_source='cls', center_aware=False))
