# SAIS-640, R-50-FPN, 12 epochs (Table IV "SAIS-640"): the full model at a fixed
# 640x640 input.
_base_ = './sais_r50-caffe_fpn_768_1x_coco.py'
custom_imports = dict(imports=['centermask_mm'], allow_failed_imports=False)

input_size = (640, 640)
# The base's pipelines with this input size (the Resize steps found by type).
train_pipeline = [dict(step, scale=input_size) if step.type == 'Resize' else step
                  for step in _base_.train_pipeline]
test_pipeline = [dict(step, scale=input_size) if step.type == 'Resize' else step
                 for step in _base_.test_pipeline]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
