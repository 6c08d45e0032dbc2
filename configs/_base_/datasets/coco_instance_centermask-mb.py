# COCO 2017 (= [CM]'s coco_2014_train + valminusminival / minival) with the original
# CenterMask repository's full-size input: training shorter side uniform in [640, 800]
# (MIN_SIZE_RANGE_TRAIN), longer side at most 1333, flip; test 800 / 1333.
_base_ = './coco_instance_centermask2.py'

# The base's training pipeline with [CM]'s range sampling in place of the choice.
train_pipeline = [
    dict(type='RandomResize', scale=[(1333, 640), (1333, 800)], keep_ratio=True)
    if step.type == 'RandomChoiceResize' else step for step in _base_.train_pipeline
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
