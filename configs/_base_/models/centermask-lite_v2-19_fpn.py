# CenterMask-Lite with VoVNetV2-19 (one OSA module of 3 layers per stage, eSE): the
# VoVNet model of ./centermask_v2-39_fpn.py at 19 layers, with the Lite widths of
# ./centermask-lite_r50_fpn.py (paper Sec. 2.6: FPN 128 channels, FCOS towers 2 x 128,
# SAG-Mask and MaskIoU heads 2 x 128; MaskIoU FCs stay 1024).
_base_ = './centermask_v2-39_fpn.py'

pretrained = 'data/pretrained/vovnet19_ese_detectron2.pth'
lite_channels = 128
model = dict(
    backbone=dict(arch='V-19', init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(out_channels=lite_channels),
    bbox_head=dict(in_channels=lite_channels, feat_channels=lite_channels, stacked_convs=2),
    roi_head=dict(
        mask_roi_extractor=dict(out_channels=lite_channels),
        mask_head=dict(num_convs=2, in_channels=lite_channels, conv_out_channels=lite_channels),
        mask_iou_head=dict(
            num_convs=2, in_channels=lite_channels, conv_out_channels=lite_channels)))
