# mmdet's own Mask R-CNN with a narrow ResNet-18, on the toy set: the foundation smoke model.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/default_runtime.py',
    '../../configs/_base_/datasets/toy_instance.py',
]
custom_imports = dict(imports=['centermask_mm'], allow_failed_imports=False)

model = dict(
    backbone=dict(depth=18, base_channels=16, init_cfg=None, norm_eval=False,
                  frozen_stages=-1, norm_cfg=dict(type='BN', requires_grad=True)),
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=32),
    rpn_head=dict(in_channels=32, feat_channels=32),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=32),
        bbox_head=dict(in_channels=32, fc_out_channels=64, num_classes=5),
        mask_roi_extractor=dict(out_channels=32),
        mask_head=dict(in_channels=32, conv_out_channels=32, num_classes=5)))

train_cfg = dict(type='IterBasedTrainLoop', max_iters=4, val_interval=4)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4))
param_scheduler = []
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=4, by_epoch=False))
log_processor = dict(by_epoch=False)
