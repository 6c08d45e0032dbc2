# Paper Table 3, HRNetV2-W18: 36.4 M params, 33.0 mask AP / 36.7 box AP. The four HRNet
# branches are fused by HRFPN; its stride-2 output convs give P3-P7 (strides 8-128), as
# in mmdet's FCOS-HRNet configs.
_base_ = './centermask_r50_fpn_1x_coco.py'

pretrained = 'data/pretrained/hrnetv2_w18.pth'  # local ImageNet weights
hr_width = 18
model = dict(
    backbone=dict(
        _delete_=True,
        type='HRNet',
        extra=dict(
            stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK',
                        num_blocks=(4, ), num_channels=(64, )),
            stage2=dict(num_modules=1, num_branches=2, block='BASIC', num_blocks=(4, 4),
                        num_channels=(hr_width, hr_width * 2)),
            stage3=dict(num_modules=4, num_branches=3, block='BASIC', num_blocks=(4, 4, 4),
                        num_channels=(hr_width, hr_width * 2, hr_width * 4)),
            stage4=dict(num_modules=3, num_branches=4, block='BASIC', num_blocks=(4, 4, 4, 4),
                        num_channels=(hr_width, hr_width * 2, hr_width * 4, hr_width * 8))),
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(
        _delete_=True,
        type='HRFPN',
        in_channels=[hr_width, hr_width * 2, hr_width * 4, hr_width * 8],
        out_channels=256,
        stride=2,
        num_outs=5))
