# Paper Table 1, row "+ SAM": Eq. 2 and the spatial attention module, no mask scoring.
# 34.0 / 38.9 AP. The next row (+ mask scoring, 34.7 / 38.8) is centermask_r50_fpn_1x_coco.py.
_base_ = './centermask_r50_fpn_1x_coco.py'

model = dict(roi_head=dict(mask_iou_head=None))
