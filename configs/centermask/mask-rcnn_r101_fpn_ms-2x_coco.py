# Paper Table 5, "Mask R-CNN, ours" R-101-FPN, 24 epochs, the same [640, 800] scale jitter
# as CenterMask. 37.9 mask AP / 42.2 box AP on test-dev. mmdet's Mask R-CNN, unchanged.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    '../_base_/datasets/coco_instance_ms.py',
    'mmdet::_base_/schedules/schedule_2x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['centermask_mm'], allow_failed_imports=False)

pretrained = 'data/pretrained/resnet101.pth'  # local torchvision-style weights
model = dict(
    backbone=dict(depth=101, init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
