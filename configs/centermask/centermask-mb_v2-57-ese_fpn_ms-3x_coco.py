# Original CenterMask (maskrcnn-benchmark) V2-57-FPN, ms 3x, for centermask-V2-57-FPN-ms-3x.pth.
# Mirrors centermask_V_57_eSE_FPN_ms_3x.yaml; otherwise as
# centermask-mb_v2-39-ese_fpn_ms-3x_coco.py.
_base_ = './centermask-mb_v2-39-ese_fpn_ms-3x_coco.py'

model = dict(backbone=dict(arch='V-57'))
