# Original CenterMask (maskrcnn-benchmark) CenterMask-Lite MobileNetV2-FPN, 4x, for
# centermask-lite-M-v2-bs16-4x.pth (26.7 mask / 30.2 box AP, test-dev). Mirrors
# centermask_M_v2_FPN_lite_res600_ms_bs16_4x.yaml, which does not set MODEL.MASKIOU_ON
# (default False): no MaskIoU head. Whether the published file holds MaskIoU weights could
# not be checked offline; the converter names any such keys.
_base_ = './centermask-lite-mb_r50-caffe_fpn_ms-4x_coco.py'

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
