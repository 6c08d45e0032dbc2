# centermask2 "ms_3x" schedule (centermask_*_FPN_ms_3x.yaml + detectron2 solver defaults):
# 16 images per batch, SGD lr 0.01, momentum 0.9, weight decay 1e-4 with none on norm
# layers (WEIGHT_DECAY_NORM 0), bias lr x1; linear warm-up from 0.001 over 1000
# iterations; 270k iterations, lr / 10 at 210k and 250k.
train_cfg = dict(type='IterBasedTrainLoop', max_iters=270000, val_interval=10000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=270000, by_epoch=False,
         milestones=[210000, 250000], gamma=0.1),
]

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001),
    paramwise_cfg=dict(norm_decay_mult=0.0))

auto_scale_lr = dict(enable=False, base_batch_size=16)
