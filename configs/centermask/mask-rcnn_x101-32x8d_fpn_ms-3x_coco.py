# Paper Table 5, "Mask R-CNN, ours" X-101-32x8d-FPN, 36 epochs, scale jitter [640, 800].
# 39.3 mask AP / 44.1 box AP on test-dev.
_base_ = './mask-rcnn_r101_fpn_ms-2x_coco.py'

pretrained = 'data/pretrained/resnext101_32x8d.pth'
model = dict(
    backbone=dict(
        type='ResNeXt',
        depth=101,
        groups=32,
        base_width=8,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
train_cfg = dict(max_epochs=36)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=36, by_epoch=True, milestones=[28, 33], gamma=0.1),
]
