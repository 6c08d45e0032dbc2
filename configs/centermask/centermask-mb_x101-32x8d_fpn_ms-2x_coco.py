# Original CenterMask (maskrcnn-benchmark) X-101-32x8d-FPN, ms 2x, for
# centermask-X-101-FPN-ms-2x.pth (39.1 mask / 44.3 box AP, val2017). Mirrors
# centermask_X_101_FPN_ms_2x.yaml.
_base_ = './centermask-mb_x101-32x8d_fpn_ms-3x_coco.py'

train_cfg = dict(max_iters=180000)  # 2x: 180k iterations, lr / 10 at 120k and 160k
param_scheduler = [_base_.param_scheduler[0],  # the 3x warm-up
                   dict(_base_.param_scheduler[1], end=180000, milestones=[120000, 160000])]
