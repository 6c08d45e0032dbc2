# COCO 2017 with the original CenterMask repository's CenterMask-Lite input
# (*_lite_res600_ms_bs16_4x.yaml): training shorter side uniform in [580, 600], longer side
# at most 1000, flip; test 600 / 1000.
_base_ = './coco_instance_centermask2-lite.py'

backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomResize', scale=[(1000, 580), (1000, 600)], keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
