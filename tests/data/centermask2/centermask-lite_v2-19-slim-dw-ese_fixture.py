# The model of the centermask2 fixture in this folder (README.md): CenterMask-Lite
# V-19-slim-dw-eSE as centermask2's centermask_lite_V_19_slim_dw_eSE_FPN_ms_4x.yaml builds it
# (FPN 128 on stage 3-5, 2+2 GN tower convs, 2-conv SAG-Mask and MaskIoU heads), with
# centermask2's inference (score threshold 0.05, postprocess='centermask2'). No pretrained
# weights: the tests load the converted fixture checkpoint.
_base_ = '../../../configs/_base_/models/centermask-lite_v2-19_fpn.py'
custom_imports = dict(imports=['centermask_mm'], allow_failed_imports=False)

model = dict(
    backbone=dict(arch='V-19-slim-dw', init_cfg=None),
    neck=dict(in_channels=[256, 384, 512]),
    test_cfg=dict(postprocess='centermask2', fcos=dict(score_thr=0.05)))
