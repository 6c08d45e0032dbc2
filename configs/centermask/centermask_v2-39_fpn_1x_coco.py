# Paper Table 3/4, VoVNetV2-39: 52.6 M params, 35.6 mask AP / 40.0 box AP.
_base_ = [
    '../_base_/models/centermask_v2-39_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    '../_base_/schedules/centermask_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['centermask_mm'], allow_failed_imports=False)
