# COCO 2017 instance segmentation with centermask2's CenterMask-Lite input
# (Base-CenterMask-Lite-VoVNet.yaml, centermask_lite_Mv2_FPN_ms_4x.yaml): training shorter
# side chosen from (580, 600), longer side at most 1000, horizontal flip; test shorter side
# 600, longer side at most 1000.
_base_ = './coco_instance_centermask2.py'

backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomChoiceResize', scales=[(1000, 580), (1000, 600)], keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    # PIL bilinear, as detectron2's ResizeShortestEdge resizes uint8 images.
    dict(type='Resize', scale=(1000, 600), keep_ratio=True, backend='pillow',
         interpolation='bilinear'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
