# Training from scratch on the synthetic toy set (CPU, batch 4): AdamW with a 100-iteration
# linear warm-up, then a cosine decay over 24 epochs to 1 % of the lr, gradients clipped at
# 35. One recipe for every toy model (CenterMask-Lite, mmdet's Mask R-CNN, SAIS), so their
# "it learns" runs compare models, not recipes. benchmarks/learn_toy.py replaces the
# epoch schedule with one over a wall-clock budget; study profiles patch max_epochs,
# param_scheduler.1.T_max / end and the checkpoint interval together. The configs set
# default_hooks themselves (mmdet's default_runtime owns that key among the bases).
max_epochs = 24
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=4)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min_ratio=0.01, begin=0,
         end=max_epochs, by_epoch=True, convert_to_iter_based=True),
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.001, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
    clip_grad=dict(max_norm=35, norm_type=2))
auto_scale_lr = dict(enable=False, base_batch_size=4)
