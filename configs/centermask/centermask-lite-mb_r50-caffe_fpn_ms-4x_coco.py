# Original CenterMask (maskrcnn-benchmark) CenterMask-Lite R-50-FPN, 4x, for
# centermask-lite-R-50-ms-bs16-4x.pth (32.9 mask / 36.7 box AP, COCO test-dev). Mirrors
# youngwanLEE/CenterMask configs/centermask/centermask_R_50_FPN_lite_res600_ms_bs16_4x.yaml:
# 128-channel FPN and heads, FCOS 2 + 2 convs, short side in [580, 600] (max 1000), test
# 600 (max 1000), 360k iterations. centermask2 has no Lite R-50.
_base_ = [
    '../_base_/models/centermask-lite-mb_r50-caffe_fpn.py',
    '../_base_/datasets/coco_instance_centermask-mb-lite.py',
    '../_base_/schedules/centermask-mb_4x.py',
    '../_base_/default_runtime_iter.py',
]
custom_imports = dict(imports=['centermask_mm'], allow_failed_imports=False)
