# centermask2 CenterMask R-50-FPN, ms 3x. Mirrors centermask2's
# configs/centermask/centermask_R_50_FPN_ms_3x.yaml: detectron2 caffe-style ResNet-50, BGR
# mean-only input, FCOS threshold 0.05, centermask2 post-processing, short side from
# (640, ..., 800), 270k iterations at batch 16. centermask2 publishes this config but no
# CenterMask R-50 weights (its README lists only the detectron2 Mask R-CNN R-50 baseline).
_base_ = [
    '../_base_/models/centermask2_r50-caffe_fpn.py',
    '../_base_/datasets/coco_instance_centermask2.py',
    '../_base_/schedules/centermask2_3x.py',
    '../_base_/default_runtime_iter.py',
]
custom_imports = dict(imports=['centermask_mm'], allow_failed_imports=False)
