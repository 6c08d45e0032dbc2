# Paper Table 1, row "FCOS (baseline), ours": the detector part of CenterMask alone (same
# backbone, FPN P3-P7, FCOS head and post-processing), box AP only. 37.8 box AP.
_base_ = [
    '../_base_/models/centermask_r50_fpn.py',
    'mmdet::_base_/datasets/coco_detection.py',
    '../_base_/schedules/centermask_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['centermask_mm'], allow_failed_imports=False)

model = dict(
    _delete_=True,
    type='FCOS',
    data_preprocessor={{_base_.model.data_preprocessor}},
    backbone={{_base_.model.backbone}},
    neck={{_base_.model.neck}},
    bbox_head={{_base_.model.bbox_head}},
    train_cfg=None,
    test_cfg={{_base_.model.test_cfg.fcos}})
