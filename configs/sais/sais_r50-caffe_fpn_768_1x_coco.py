# SAIS-768, R-50-FPN, 12 epochs: the paper's full model (SAIS paper, Sec. IV):
# coefficients from the SUM of the classification and regression towers, center-aware
# targets, fixed 768x768 input, k = 32 prototypes. Rows: Table III "w/" fusion and
# Table IV "SAIS-768 ResNet-50-FPN".
# Schedule (Sec. IV "Training details"): SGD, lr 0.01, momentum 0.9, 16 images per
# batch (8 GPUs x 2), 12 epochs, lr / 10 at epochs 8 and 11. Warm-up, bias lr x2 and
# gradient clipping are mmdetection's FCOS defaults, which the paper builds on.
_base_ = [
    '../_base_/models/sais_r50-caffe_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['centermask_mm'], allow_failed_imports=False)

# Fixed square input (Table I "fixed size"): the aspect ratio is NOT kept.
input_size = (768, 768)
backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=input_size, keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=input_size, keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001),
    paramwise_cfg=dict(bias_lr_mult=2., bias_decay_mult=0.),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='ConstantLR', factor=1.0 / 3, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=12, val_interval=1)
auto_scale_lr = dict(enable=False, base_batch_size=16)
