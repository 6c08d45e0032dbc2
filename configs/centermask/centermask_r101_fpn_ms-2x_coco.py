# Paper Table 5, CenterMask R-101-FPN, 24 epochs, scale jitter: shorter side uniform in
# [640, 800] (max 1333), test 800. 38.3 mask AP / 43.1 box AP on test-dev.
_base_ = [
    '../_base_/models/centermask_r50_fpn.py',
    '../_base_/datasets/coco_instance_ms.py',
    '../_base_/schedules/centermask_2x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['centermask_mm'], allow_failed_imports=False)

pretrained = 'data/pretrained/resnet101.pth'  # local torchvision-style weights
model = dict(
    backbone=dict(depth=101, init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
