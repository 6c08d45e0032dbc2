# COCO 2017 (= [CM]'s coco_2014_train + valminusminival / minival) with the original
# CenterMask repository's full-size input: training shorter side uniform in [640, 800]
# (MIN_SIZE_RANGE_TRAIN), longer side at most 1333, flip; test 800 / 1333.
_base_ = './coco_instance_centermask2.py'

backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomResize', scale=[(1333, 640), (1333, 800)], keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
