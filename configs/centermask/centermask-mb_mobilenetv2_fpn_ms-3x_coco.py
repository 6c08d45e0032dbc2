# Original CenterMask (maskrcnn-benchmark) MobileNetV2-FPN, ms 3x, for
# centermask-M-v2-FPN-ms-3x.pth (31.2 mask / 35.5 box AP, val2017). Mirrors
# centermask_M_v2_FPN_ms_3x.yaml ("MNV2-FPN-RETINANET": tonylins' MobileNetV2 with
# FrozenBatchNorm2d, res3-5 = 32/96/320 channels), which does not set MODEL.MASKIOU_ON
# (default False): no MaskIoU head. Input: maskrcnn-benchmark's BGR mean, std 1.
_base_ = './centermask-mb_r50-caffe_fpn_ms-3x_coco.py'

pretrained = 'data/pretrained/mobilenet_v2.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='TruncatedMobileNetV2',
        out_indices=(2, 4, 6),
        frozen_stages=-1,
        norm_cfg={{_base_.frozen_bn}},
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[32, 96, 320]),
    roi_head=dict(mask_iou_head=None))
