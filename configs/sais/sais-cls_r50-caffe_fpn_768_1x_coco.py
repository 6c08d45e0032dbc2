# SAIS-768 R-50 with coefficients from the classification tower only (no fusion),
# center-aware targets on. Rows: Table III "w/o" fusion = Table II "SAIS w/ c".
_base_ = './sais_r50-caffe_fpn_768_1x_coco.py'
custom_imports = dict(imports=['centermask_mm'], allow_failed_imports=False)

model = dict(bbox_head=dict(coeff_source='cls'))
