# A narrow CenterMask for benchmark-harness tests: ResNet-18 with 16 base channels, 32-channel
# FPN / FCOS (1 conv per tower) / SAG-Mask / MaskIoU, 5 classes, test-time top-50 as the paper.
_base_ = ['../../../configs/_base_/models/centermask_r50_fpn.py']
custom_imports = dict(imports=['centermask_mm'], allow_failed_imports=False)

ch = 32
model = dict(
    backbone=dict(depth=18, base_channels=16, init_cfg=None, frozen_stages=-1),
    neck=dict(in_channels=[32, 64, 128], out_channels=ch),
    bbox_head=dict(num_classes=5, in_channels=ch, feat_channels=ch, stacked_convs=1,
                   norm_cfg=dict(type='GN', num_groups=8, requires_grad=True)),
    roi_head=dict(
        mask_roi_extractor=dict(out_channels=ch),
        mask_head=dict(num_convs=1, in_channels=ch, conv_out_channels=ch, num_classes=5),
        mask_iou_head=dict(num_convs=1, in_channels=ch, conv_out_channels=ch,
                           fc_out_channels=64, num_classes=5)))
