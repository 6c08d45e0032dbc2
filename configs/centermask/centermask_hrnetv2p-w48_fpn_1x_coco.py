# Paper Table 3, HRNetV2-W48: 92.3 M params, 38.1 mask AP / 43.0 box AP.
_base_ = './centermask_hrnetv2p-w18_fpn_1x_coco.py'

pretrained = 'data/pretrained/hrnetv2_w48.pth'  # local ImageNet weights
hr_width = 48
model = dict(
    backbone=dict(
        extra=dict(
            stage2=dict(num_channels=(hr_width, hr_width * 2)),
            stage3=dict(num_channels=(hr_width, hr_width * 2, hr_width * 4)),
            stage4=dict(num_channels=(hr_width, hr_width * 2, hr_width * 4, hr_width * 8))),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[hr_width, hr_width * 2, hr_width * 4, hr_width * 8]))
