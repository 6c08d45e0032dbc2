# Table I "keeping aspect ratio (1333, 800)": the Table I baseline model
# (classification-tower coefficients, no center-aware targets) with mmdetection's
# standard keep-ratio input (longer side <= 1333, shorter side <= 800, padded to 32).
_base_ = './sais-cls-noca_r50-caffe_fpn_768_1x_coco.py'
custom_imports = dict(imports=['centermask_mm'], allow_failed_imports=False)

input_size = (1333, 800)
# The base's pipelines with this input size (the Resize steps found by type).
train_pipeline = [dict(step, scale=input_size, keep_ratio=True) if step.type == 'Resize' else step
                  for step in _base_.train_pipeline]
test_pipeline = [dict(step, scale=input_size, keep_ratio=True) if step.type == 'Resize' else step
                 for step in _base_.test_pipeline]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
