# COCO 2017 instance segmentation with centermask2's full-size input (Base-CenterMask-
# {ResNet,VoVNet}.yaml + detectron2 defaults): training shorter side chosen from
# (640, 672, ..., 800) ("choice" sampling), longer side at most 1333, horizontal flip;
# test shorter side 800, longer side at most 1333. The test resize uses PIL bilinear, as
# detectron2 does for uint8 images (mmcv.imresize with backend pillow makes the same call).
_base_ = 'mmdet::_base_/datasets/coco_instance.py'

backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomChoiceResize',
         scales=[(1333, s) for s in (640, 672, 704, 736, 768, 800)],
         keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    # PIL bilinear, as detectron2's ResizeShortestEdge resizes uint8 images.
    dict(type='Resize', scale=(1333, 800), keep_ratio=True, backend='pillow',
         interpolation='bilinear'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
