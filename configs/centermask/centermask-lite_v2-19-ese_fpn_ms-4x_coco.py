# centermask2 CenterMask-Lite V-19-FPN, ms 4x. Mirrors centermask2's
# configs/centermask/centermask_lite_V_19_eSE_FPN_ms_4x.yaml (Base-CenterMask-Lite-VoVNet):
# VoVNetV2-19-eSE, FPN / FCOS towers / SAG-Mask / MaskIoU at 128 channels, FCOS 2 + 2 convs,
# short side from (580, 600) (max 1000), test 600 (max 1000), 360k iterations at batch 16,
# FCOS threshold 0.05 and centermask2's post-processing.
# Published weights: centermask2-lite-V-19-eSE-FPN-ms-4x.pth (32.8 mask / 35.9 box AP).
_base_ = [
    '../_base_/models/centermask2-lite_v2-19-ese_fpn.py',
    '../_base_/datasets/coco_instance_centermask2-lite.py',
    '../_base_/schedules/centermask2_4x.py',
    '../_base_/default_runtime_iter.py',
]
custom_imports = dict(imports=['centermask_mm'], allow_failed_imports=False)
