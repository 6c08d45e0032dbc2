"""SAIS detector (Xiang, Tian, Zou, Xu, "SAIS: Single-stage Anchor-free Instance
Segmentation", arXiv 1912.01176).

Backbone + FPN, a ``SAISHead`` (FCOS with mask coefficients and center-aware
targets) and a ``SAISProtonet`` (prototypes and mask assembly). All tasks run in
parallel on the same features; mmdet's ``SingleStageInstanceSegmentor`` already wires
that pattern (it is what mmdet's YOLACT and CondInst use): in training the box head's
positives (coefficients, assigned GT) feed the mask loss, at test its detections
(boxes, coefficients) feed mask assembly.
"""
from __future__ import annotations

from mmdet.models.detectors.single_stage_instance_seg import SingleStageInstanceSegmentor
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig

__all__ = ['SAIS']


@MODELS.register_module()
class SAIS(SingleStageInstanceSegmentor):
    """SAIS single-stage anchor-free instance segmenter.

    Args:
        backbone (ConfigType): Backbone config.
        neck (ConfigType): Neck config (FPN, P3-P7).
        bbox_head (ConfigType): ``SAISHead`` config.
        mask_head (ConfigType): ``SAISProtonet`` config.
        train_cfg (OptConfigType): Training config (given to both heads).
        test_cfg (OptConfigType): Test config (given to both heads): FCOS's
            ``nms_pre``, ``score_thr``, ``nms``, ``max_per_img`` and the mask
            probability threshold ``mask_thr``.
        data_preprocessor (OptConfigType): ``DetDataPreprocessor`` config.
        init_cfg (OptMultiConfig): Initialisation config.
    """

    def __init__(self, backbone: ConfigType, neck: ConfigType, bbox_head: ConfigType,
                 mask_head: ConfigType, train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None, data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        k_box = bbox_head.get('num_protos', 32)
        k_mask = mask_head.get('num_protos', 32)
        if k_box != k_mask:
            raise ValueError(
                f'SAIS: model.bbox_head.num_protos={k_box} differs from '
                f'model.mask_head.num_protos={k_mask}')
        super().__init__(backbone=backbone, neck=neck, bbox_head=bbox_head,
                         mask_head=mask_head, train_cfg=train_cfg, test_cfg=test_cfg,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
