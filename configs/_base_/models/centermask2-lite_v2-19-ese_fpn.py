# CenterMask-Lite V-19-FPN as centermask2 builds it (Base-CenterMask-Lite-VoVNet.yaml):
# FPN.OUT_CHANNELS 128, FCOS NUM_CLS_CONVS = NUM_BOX_CONVS = 2 (at the FPN width, GN 32),
# SpatialAttentionMaskHead NUM_CONV 2 / CONV_DIM 128, MaskIoU NUM_CONV 2 / CONV_DIM 128
# (its FCs stay 1024), BACKBONE.FREEZE_AT 0; input, FCOS test settings and post-processing
# as ./centermask2_r50-caffe_fpn.py (detectron2 defaults: BGR, mean only).
_base_ = './centermask2_r50-caffe_fpn.py'

pretrained = 'data/pretrained/vovnet19_ese_detectron2.pth'
lite_channels = 128
model = dict(
    backbone=dict(
        _delete_=True,
        type='VoVNet',
        arch='V-19',
        residual=True,
        attention='ese',
        out_indices=(1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[512, 768, 1024], out_channels=lite_channels),
    bbox_head=dict(in_channels=lite_channels, feat_channels=lite_channels, stacked_convs=2),
    roi_head=dict(
        mask_roi_extractor=dict(out_channels=lite_channels),
        mask_head=dict(num_convs=2, in_channels=lite_channels, conv_out_channels=lite_channels),
        mask_iou_head=dict(
            num_convs=2, in_channels=lite_channels, conv_out_channels=lite_channels)))
