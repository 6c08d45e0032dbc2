# Paper Table 2, feature level range P3~P6 for RoIAlign (k_min = 3, k_max = top level of the
# range in Eq. 2). 34.6 / 38.8 AP. P3~P5 (34.6 / 38.9) is centermask_r50_fpn_1x_coco.py.
_base_ = './centermask_r50_fpn_1x_coco.py'

model = dict(roi_head=dict(mask_roi_extractor=dict(featmap_strides=[8, 16, 32, 64])))
