# Paper Table 5, CenterMask V-99-FPN, 36 epochs, scale jitter [640, 800]. 40.6 / 45.8 AP
# (CenterMask*: 41.8 / 46.5).
_base_ = './centermask_v2-99_fpn_1x_coco.py'

backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomResize', scale=[(1333, 640), (1333, 800)], keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
train_cfg = dict(max_epochs=36)  # as ../_base_/schedules/centermask_3x.py
param_scheduler = [_base_.param_scheduler[0],  # the 1x warm-up
                   dict(_base_.param_scheduler[1], end=36, milestones=[28, 33])]
