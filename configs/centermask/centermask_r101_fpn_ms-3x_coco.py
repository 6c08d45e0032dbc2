# Paper Table 5, CenterMask* R-101-FPN, 36 epochs, scale jitter [640, 800]. 39.8 / 44.0 AP.
_base_ = './centermask_r101_fpn_ms-2x_coco.py'
train_cfg = dict(max_epochs=36)  # as ../_base_/schedules/centermask_3x.py
param_scheduler = [
    dict(type='ConstantLR', factor=1.0 / 3, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=36, by_epoch=True, milestones=[28, 33], gamma=0.1),
]
