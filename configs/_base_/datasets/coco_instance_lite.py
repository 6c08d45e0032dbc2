# COCO 2017 instance segmentation (mmdet's dataset settings) with the CenterMask paper's
# Lite input (Table 5, CenterMask-Lite rows): ./coco_instance_ms.py's scale jitter at the
# Lite sizes, training shorter side uniform in [580, 600], longer side at most 1000, flip;
# test shorter side 600, longer side at most 1000.
_base_ = './coco_instance_ms.py'

backend_args = None
train_pipeline = [
    dict(step, scale=[(1000, 580), (1000, 600)]) if step.type == 'RandomResize' else step
    for step in _base_.train_pipeline
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(1000, 600), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
