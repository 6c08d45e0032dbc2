# Original CenterMask (maskrcnn-benchmark) R-101-FPN, ms 2x, for centermask-R-101-ms-2x.pth
# (38.0 mask / 43.1 box AP val2017; 38.3 / 43.1 test-dev). Mirrors
# centermask_R_101_FPN_ms_2x.yaml.
_base_ = './centermask-mb_r101-caffe_fpn_ms-3x_coco.py'

train_cfg = dict(max_iters=180000)  # 2x: 180k iterations, lr / 10 at 120k and 160k
param_scheduler = [
    dict(type='ConstantLR', factor=1.0 / 3, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=180000, by_epoch=False,
         milestones=[120000, 160000], gamma=0.1),
]
