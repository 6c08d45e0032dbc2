# Paper Table 1, row "+ mask head (Eq. 2, ours)": naive mask head with the scale-adaptive
# RoI assignment. 33.8 / 38.7 AP.
_base_ = './centermask_r50_fpn_1x_coco.py'

model = dict(roi_head=dict(mask_head=dict(with_sam=False), mask_iou_head=None))
