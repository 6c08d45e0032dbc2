# The data-parallel toy (orchestrator.testing.ddp_toy): a 2-layer MLP on 32 fixed samples,
# 2 epochs. With train batch 2 per rank, two ranks make an effective batch of 4, the same
# as one process with batch 4 (the DDP tests compare their losses step by step).
custom_imports = dict(imports=['orchestrator.testing.ddp_toy'], allow_failed_imports=False)
default_scope = 'mmengine'
model = dict(type='DDPToyModel')
train_dataloader = dict(
    batch_size=2, num_workers=0,
    # An explicit sampler seed: the permutation must not depend on the world size.
    sampler=dict(type='DefaultSampler', shuffle=True, seed=0),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='DDPToyDataset', n=32))
train_cfg = dict(by_epoch=True, max_epochs=2)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.05))
test_dataloader = dict(
    batch_size=4, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'), dataset=dict(type='DDPToyDataset', n=16, seed=1))
test_cfg = dict()
test_evaluator = dict(type='DDPToyMetric')
default_hooks = dict(logger=dict(type='LoggerHook', interval=1),
                     checkpoint=dict(type='CheckpointHook', interval=1))
# window_size 1: each logged value is that step's, not a running mean.
log_processor = dict(window_size=1, by_epoch=True)
randomness = dict(seed=0)
visualizer = dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend')])
