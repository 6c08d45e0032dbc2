# centermask2 "ms_4x" schedule of CenterMask-Lite (centermask_lite_*_FPN_ms_4x.yaml):
# as centermask2_3x.py, but 360k iterations with lr / 10 at 300k and 340k.
_base_ = './centermask2_3x.py'

train_cfg = dict(max_iters=360000)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=360000, by_epoch=False,
         milestones=[300000, 340000], gamma=0.1),
]
