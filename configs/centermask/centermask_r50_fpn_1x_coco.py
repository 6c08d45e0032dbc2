# CenterMask R-50-FPN, 12 epochs, single scale 800 (paper Table 1 last row, Table 2 P3-P5,
# Table 3 ResNet-50 row: 34.7 mask AP / 38.8 box AP on val2017).
_base_ = [
    '../_base_/models/centermask_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    '../_base_/schedules/centermask_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['centermask_mm'], allow_failed_imports=False)
