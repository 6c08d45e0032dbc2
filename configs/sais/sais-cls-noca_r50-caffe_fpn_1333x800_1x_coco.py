# Table I "keeping aspect ratio (1333, 800)": the Table I baseline model
# (classification-tower coefficients, no center-aware targets) with mmdetection's
# standard keep-ratio input (longer side <= 1333, shorter side <= 800, padded to 32).
_base_ = './sais-cls-noca_r50-caffe_fpn_768_1x_coco.py'
custom_imports = dict(imports=['centermask_mm'], allow_failed_imports=False)

input_size = (1333, 800)
backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=input_size, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=input_size, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
