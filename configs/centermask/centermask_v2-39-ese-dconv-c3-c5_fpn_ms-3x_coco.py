# centermask2 CenterMask V2-39-DCN-FPN, ms 3x. Mirrors centermask2's
# configs/centermask/centermask_V_39_eSE_dcn_FPN_ms_3x.yaml: STAGE_WITH_DCN
# (False, True, True, True), WITH_MODULATED_DCN True, DEFORMABLE_GROUPS 1, i.e. every 3x3
# OSA layer of stage3-5 is a modulated deformable conv (DCNv2, mmcv ops needed to run it).
_base_ = './centermask_v2-39-ese_fpn_ms-3x_coco.py'

model = dict(
    backbone=dict(
        dcn=dict(type='DCNv2', deform_groups=1),
        stage_with_dcn=(False, True, True, True)))
