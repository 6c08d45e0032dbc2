# CenterMask-Lite (paper Sec. 2.6): FPN 256 -> 128 channels, FCOS towers 4 x 256 -> 2 x 128,
# SAG-Mask and MaskIoU heads 4 x 256 -> 2 x 128 (MaskIoU FCs stay 1024).
_base_ = './centermask_r50_fpn.py'

lite_channels = 128
model = dict(
    neck=dict(out_channels=lite_channels),
    bbox_head=dict(in_channels=lite_channels, feat_channels=lite_channels, stacked_convs=2),
    roi_head=dict(
        mask_roi_extractor=dict(out_channels=lite_channels),
        mask_head=dict(num_convs=2, in_channels=lite_channels, conv_out_channels=lite_channels),
        mask_iou_head=dict(
            num_convs=2, in_channels=lite_channels, conv_out_channels=lite_channels)))
