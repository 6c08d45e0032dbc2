# As centermask-mb_3x.py, 4x of CenterMask-Lite: 360k iterations, lr / 10 at 300k and 340k
# (*_lite_res600_ms_bs16_4x.yaml).
_base_ = './centermask-mb_3x.py'

train_cfg = dict(max_iters=360000)
param_scheduler = [
    dict(type='ConstantLR', factor=1.0 / 3, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=360000, by_epoch=False,
         milestones=[300000, 340000], gamma=0.1),
]
