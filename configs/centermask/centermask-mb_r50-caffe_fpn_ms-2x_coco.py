# Original CenterMask (maskrcnn-benchmark) R-50-FPN, ms 2x, for centermask-R-50-FPN-ms-2x.pth
# (36.4 mask / 41.2 box AP, val2017). Mirrors centermask_R_50_FPN_ms_2x.yaml: as the 3x
# config but 180k iterations.
_base_ = './centermask-mb_r50-caffe_fpn_ms-3x_coco.py'

train_cfg = dict(max_iters=180000)  # 2x: 180k iterations, lr / 10 at 120k and 160k
param_scheduler = [_base_.param_scheduler[0],  # the 3x warm-up
                   dict(_base_.param_scheduler[1], end=180000, milestones=[120000, 160000])]
