# Paper Table 5, CenterMask* R-101-FPN, 36 epochs, scale jitter [640, 800]. 39.8 / 44.0 AP.
_base_ = './centermask_r101_fpn_ms-2x_coco.py'
train_cfg = dict(max_epochs=36)  # as ../_base_/schedules/centermask_3x.py
param_scheduler = [_base_.param_scheduler[0],  # the 1x warm-up
                   dict(_base_.param_scheduler[1], end=36, milestones=[28, 33])]
