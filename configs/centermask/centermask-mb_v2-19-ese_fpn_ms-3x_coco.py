# Original CenterMask (maskrcnn-benchmark) V2-19-FPN, ms 3x, for
# centermask-V-19-eSE-FPN-ms-3x.pth (34.7 mask / 39.7 box AP, val2017). Mirrors
# centermask_V_19_eSE_FPN_ms_3x.yaml, which does not set MODEL.MASKIOU_ON (default False):
# no MaskIoU head, mask scores = box scores. Whether the published file nevertheless holds
# MaskIoU weights could not be checked offline; the converter names any such keys.
_base_ = './centermask-mb_v2-39-ese_fpn_ms-3x_coco.py'

model = dict(backbone=dict(arch='V-19'), roi_head=dict(mask_iou_head=None))
