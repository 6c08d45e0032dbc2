# COCO 2017 with the original CenterMask repository's CenterMask-Lite input
# (*_lite_res600_ms_bs16_4x.yaml): training shorter side uniform in [580, 600], longer side
# at most 1000, flip; test 600 / 1000.
_base_ = './coco_instance_centermask2-lite.py'

# The base's training pipeline with [CM]'s range sampling in place of the choice.
train_pipeline = [
    dict(type='RandomResize', scale=[(1000, 580), (1000, 600)], keep_ratio=True)
    if step.type == 'RandomChoiceResize' else step for step in _base_.train_pipeline
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
