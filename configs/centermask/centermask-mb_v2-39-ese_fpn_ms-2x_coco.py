# Original CenterMask (maskrcnn-benchmark) V2-39-FPN, ms 2x, for centermask-V2-39-FPN-ms-2x.pth.
# Mirrors centermask_V_39_eSE_FPN_ms_2x.yaml.
_base_ = './centermask-mb_v2-39-ese_fpn_ms-3x_coco.py'

train_cfg = dict(max_iters=180000)  # 2x: 180k iterations, lr / 10 at 120k and 160k
param_scheduler = [_base_.param_scheduler[0],  # the 3x warm-up
                   dict(_base_.param_scheduler[1], end=180000, milestones=[120000, 160000])]
