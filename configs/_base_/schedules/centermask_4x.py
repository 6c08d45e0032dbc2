# 4x = 48 epochs (paper Sec. 3.2: 24/36 epochs for CenterMask, 48 for CenterMask-Lite),
# lr steps at the same fractions as the reference iteration schedules. Optimiser as in
# centermask_1x.py.
_base_ = './centermask_1x.py'

train_cfg = dict(max_epochs=48)
param_scheduler = [
    dict(type='ConstantLR', factor=1.0 / 3, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=48, by_epoch=True, milestones=[40, 45], gamma=0.1),
]
