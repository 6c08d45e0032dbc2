# COCO 2017 instance segmentation (mmdet's dataset settings) with the CenterMask paper's
# scale jitter (Table 5, "ms" rows): training shorter side uniform in [640, 800], longer
# side at most 1333, flip; test as mmdet's (800 / 1333).
_base_ = 'mmdet::_base_/datasets/coco_instance.py'

backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomResize', scale=[(1333, 640), (1333, 800)], keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
