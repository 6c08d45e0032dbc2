# CenterMask-Lite R-50-FPN as the original CenterMask repository builds it
# (centermask_R_50_FPN_lite_res600_ms_bs16_4x.yaml): ./centermask-mb_r50-caffe_fpn.py with
# BACKBONE_OUT_CHANNELS 128 (FPN), FCOS NUM_CONVS 2 at 128 channels, ROI_MASK_HEAD
# CONV_LAYERS (128, 128), ROI_MASKIOU_HEAD CONV_LAYERS (128, 128) (FCs stay 1024).
_base_ = './centermask-mb_r50-caffe_fpn.py'

lite_channels = 128
model = dict(
    neck=dict(out_channels=lite_channels),
    bbox_head=dict(in_channels=lite_channels, feat_channels=lite_channels, stacked_convs=2),
    roi_head=dict(
        mask_roi_extractor=dict(out_channels=lite_channels),
        mask_head=dict(num_convs=2, in_channels=lite_channels, conv_out_channels=lite_channels),
        mask_iou_head=dict(
            num_convs=2, in_channels=lite_channels, conv_out_channels=lite_channels)))
