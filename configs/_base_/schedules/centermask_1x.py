# Paper Sec. 2.6: SGD, 16 images per batch, lr 0.01, momentum 0.9, weight decay 1e-4,
# 90k iterations (~12 epochs), lr / 10 at 60k and 80k (epochs 8 and 11). Warm-up and the
# bias settings follow the paper's code base ([CM], the FCOS recipe): constant 1/3 for 500
# iterations, bias lr x2, no weight decay on biases.
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=12, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(type='ConstantLR', factor=1.0 / 3, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1),
]

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001),
    paramwise_cfg=dict(bias_lr_mult=2.0, bias_decay_mult=0.0))

auto_scale_lr = dict(enable=False, base_batch_size=16)
