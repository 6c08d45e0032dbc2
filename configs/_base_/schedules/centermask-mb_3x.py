# The original CenterMask repository's 3x schedule (centermask_*_FPN_ms_3x.yaml +
# maskrcnn-benchmark defaults): 16 images per batch, SGD lr 0.01, momentum 0.9, weight
# decay 1e-4, bias lr x2 and no bias decay (BIAS_LR_FACTOR 2, WEIGHT_DECAY_BIAS 0),
# constant warm-up at 1/3 for 500 iterations, 270k iterations, lr / 10 at 210k and 250k.
train_cfg = dict(type='IterBasedTrainLoop', max_iters=270000, val_interval=10000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(type='ConstantLR', factor=1.0 / 3, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=270000, by_epoch=False,
         milestones=[210000, 250000], gamma=0.1),
]

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001),
    paramwise_cfg=dict(bias_lr_mult=2.0, bias_decay_mult=0.0))

auto_scale_lr = dict(enable=False, base_batch_size=16)
