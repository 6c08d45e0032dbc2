# centermask2 CenterMask V2-39-FPN (VoVNetV2-39 with eSE), ms 3x. Mirrors centermask2's
# configs/centermask/centermask_V_39_eSE_FPN_ms_3x.yaml (Base-CenterMask-VoVNet.yaml):
# FREEZE_AT 0 (no conv frozen, all BN frozen), stage3-5 into the FPN; input, FCOS,
# mask branch, schedule and post-processing as centermask_r50-caffe_fpn_ms-3x_coco.py
# (its model here is ../_base_/models/centermask_v2-39_fpn.py with centermask2 thresholds).
# Published weights: centermask2-V-39-eSE-FPN-ms-3x.pth (39.7 mask / 44.2 box AP).
_base_ = [
    '../_base_/models/centermask_v2-39_fpn.py',
    '../_base_/datasets/coco_instance_centermask2.py',
    '../_base_/schedules/centermask2_3x.py',
    '../_base_/default_runtime_iter.py',
]
custom_imports = dict(imports=['centermask_mm'], allow_failed_imports=False)

# The VoVNet model with centermask2's FCOS threshold and post-processing (as
# ../_base_/models/centermask2_r50-caffe_fpn.py).
centermask2_score_thr = 0.05
model = dict(
    train_cfg=dict(fcos_proposal=dict(score_thr=centermask2_score_thr)),
    test_cfg=dict(postprocess='centermask2', fcos=dict(score_thr=centermask2_score_thr)))
