# COCO 2017 instance segmentation with centermask2's CenterMask-Lite input
# (Base-CenterMask-Lite-VoVNet.yaml, centermask_lite_Mv2_FPN_ms_4x.yaml): training shorter
# side chosen from (580, 600), longer side at most 1000, horizontal flip; test shorter side
# 600, longer side at most 1000.
_base_ = './coco_instance_centermask2.py'

# The base's pipelines with the Lite sizes; steps are picked by type, not position.
train_pipeline = [
    dict(step, scales=[(1000, 580), (1000, 600)]) if step.type == 'RandomChoiceResize' else step
    for step in _base_.train_pipeline
]
test_pipeline = [
    dict(step, scale=(1000, 600)) if step.type == 'Resize' else step
    for step in _base_.test_pipeline
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
