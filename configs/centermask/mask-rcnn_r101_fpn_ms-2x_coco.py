# Paper Table 5, "Mask R-CNN, ours" R-101-FPN, 24 epochs, the same [640, 800] scale jitter
# as CenterMask. 37.9 mask AP / 42.2 box AP on test-dev. mmdet's Mask R-CNN, unchanged.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r101_fpn_2x_coco.py'
custom_imports = dict(imports=['centermask_mm'], allow_failed_imports=False)

pretrained = 'data/pretrained/resnet101.pth'  # local torchvision-style weights
model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomResize', scale=[(1333, 640), (1333, 800)], keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
