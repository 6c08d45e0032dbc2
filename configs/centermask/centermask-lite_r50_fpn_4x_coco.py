# Paper Table 5, CenterMask-Lite R-50-FPN, 48 epochs, [580, 600] jitter. 32.9 / 36.7 AP.
_base_ = [
    '../_base_/models/centermask-lite_r50_fpn.py',
    '../_base_/datasets/coco_instance_lite.py',
    '../_base_/schedules/centermask_4x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['centermask_mm'], allow_failed_imports=False)
