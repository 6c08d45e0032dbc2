# Original CenterMask (maskrcnn-benchmark) CenterMask-Lite V2-19-FPN, 4x, for
# centermask-lite-V-19-eSE-ms-bs16-4x.pth (32.4 mask / 35.9 box AP, test-dev). Mirrors
# centermask_V_19_eSE_FPN_lite_res600_ms_bs16_4x.yaml.
_base_ = './centermask-lite-mb_v2-39-ese_fpn_ms-4x_coco.py'

model = dict(backbone=dict(arch='V-19'))
