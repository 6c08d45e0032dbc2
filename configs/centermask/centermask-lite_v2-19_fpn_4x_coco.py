# Paper Table 5, CenterMask-Lite V-19-FPN: FPN / FCOS / mask / MaskIoU at 128 channels,
# 48 epochs, shorter side jittered in [580, 600] (max 1000), test 600. 32.4 / 35.9 AP.
_base_ = [
    '../_base_/models/centermask-lite_v2-19_fpn.py',
    '../_base_/datasets/coco_instance_lite.py',
    '../_base_/schedules/centermask_4x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['centermask_mm'], allow_failed_imports=False)
