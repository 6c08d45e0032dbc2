# Original CenterMask (maskrcnn-benchmark) R-101-FPN, ms 2x, for centermask-R-101-ms-2x.pth
# (38.0 mask / 43.1 box AP val2017; 38.3 / 43.1 test-dev). Mirrors
# centermask_R_101_FPN_ms_2x.yaml.
_base_ = './centermask-mb_r101-caffe_fpn_ms-3x_coco.py'

train_cfg = dict(max_iters=180000)  # 2x: 180k iterations, lr / 10 at 120k and 160k
param_scheduler = [_base_.param_scheduler[0],  # the 3x warm-up
                   dict(_base_.param_scheduler[1], end=180000, milestones=[120000, 160000])]
