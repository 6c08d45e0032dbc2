# Paper Table 5, CenterMask V-99-FPN, 36 epochs, scale jitter [640, 800]. 40.6 / 45.8 AP
# (CenterMask*: 41.8 / 46.5).
_base_ = [
    '../_base_/models/centermask_v2-39_fpn.py',
    '../_base_/datasets/coco_instance_ms.py',
    '../_base_/schedules/centermask_3x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['centermask_mm'], allow_failed_imports=False)

pretrained = 'data/pretrained/vovnet99_ese_detectron2.pth'
model = dict(backbone=dict(arch='V-99', init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
