# Paper Table 5, CenterMask R-101-FPN, 24 epochs, scale jitter: shorter side uniform in
# [640, 800] (max 1333), test 800. 38.3 mask AP / 43.1 box AP on test-dev.
_base_ = './centermask_r101_fpn_1x_coco.py'

backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomResize', scale=[(1333, 640), (1333, 800)], keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
train_cfg = dict(max_epochs=24)  # as ../_base_/schedules/centermask_2x.py
param_scheduler = [_base_.param_scheduler[0],  # the 1x warm-up
                   dict(_base_.param_scheduler[1], end=24, milestones=[16, 22])]
