# CenterMask, R-50-FPN (paper Sec. 2, Tables 1-3): ResNet-50 C3-C5 -> FPN P3-P7 (256) ->
# FCOS (4 + 4 GN convs) -> scale-adaptive RoIAlign (Eq. 2, P3-P5, 14x14) -> SAG-Mask
# (4 x 256, SAM) -> MaskIoU (mask scoring). Values are the paper's where it gives them
# (FCOS score threshold 0.03, 100 training / 50 test boxes, P3-P5), centermask2's otherwise.
# Set `pretrained` (a local ImageNet checkpoint) in the config you train; nothing is
# downloaded. Tests build with init_cfg=None.
pretrained = 'data/pretrained/resnet50.pth'  # local torchvision-style ResNet-50 weights
num_classes = 80
fpn_channels = 256
fcos_score_thr = 0.03  # paper Sec. 2.6 ([CM]); centermask2 uses 0.05

model = dict(
    type='CenterMask',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32,
        pad_mask=True),
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(1, 2, 3),  # C3-C5
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=False),  # FrozenBN as in detectron2
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(
        type='FPN',
        in_channels=[512, 1024, 2048],
        out_channels=fpn_channels,
        start_level=0,
        add_extra_convs='on_output',  # P6 from the P5 output, P7 from ReLU(P6)
        relu_before_extra_convs=True,
        num_outs=5),
    bbox_head=dict(
        type='FCOSHead',
        num_classes=num_classes,
        in_channels=fpn_channels,
        stacked_convs=4,
        feat_channels=fpn_channels,
        strides=[8, 16, 32, 64, 128],
        conv_bias=True,
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
        norm_on_bbox=True,
        centerness_on_reg=True,
        center_sampling=True,
        center_sample_radius=1.5,
        dcn_on_last_conv=False,
        loss_cls=dict(
            type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=1.0),
        loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
    roi_head=dict(
        type='CenterMaskRoIHead',
        mask_roi_extractor=dict(
            type='ScaleAdaptiveRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=14, sampling_ratio=0, aligned=True),
            out_channels=fpn_channels,
            featmap_strides=[8, 16, 32],  # P3-P5 (paper Table 2)
            assign='eq2'),
        mask_head=dict(
            type='SAGMaskHead',
            with_sam=True,
            num_convs=4,
            roi_feat_size=14,
            in_channels=fpn_channels,
            conv_out_channels=fpn_channels,
            num_classes=num_classes,
            loss_mask=dict(type='CrossEntropyLoss', use_mask=True, loss_weight=1.0)),
        mask_iou_head=dict(
            type='MaskIoUHead',
            num_convs=4,
            num_fcs=2,
            roi_feat_size=14,
            in_channels=fpn_channels,
            conv_out_channels=fpn_channels,
            fc_out_channels=1024,
            num_classes=num_classes,
            loss_iou=dict(type='MSELoss', loss_weight=0.5))),
    train_cfg=dict(
        fcos=None,
        # FCOS detections that become mask-branch training RoIs (paper Sec. 2.6: 100).
        fcos_proposal=dict(
            nms_pre=1000,  # per level
            min_bbox_size=0,
            score_thr=fcos_score_thr,
            nms=dict(type='nms', iou_threshold=0.6),
            max_per_img=100),
        mask=dict(
            assigner=dict(
                type='MaxIoUAssigner',
                pos_iou_thr=0.5,
                neg_iou_thr=0.5,
                min_pos_iou=0.5,
                match_low_quality=False,
                ignore_iof_thr=-1),
            sampler=dict(
                type='RandomSampler',
                num=512,
                pos_fraction=0.25,  # at most 128 positives per image
                neg_pos_ub=-1,
                add_gt_as_proposals=True),
            mask_size=28,
            pos_weight=-1,
            mask_thr_binary=0.0,  # on logits, for MaskIoU targets (p > 0.5)
            debug=False)),
    test_cfg=dict(
        # 'mmdet': mmdet's FCOS post-processing (score cls x ctr, boxes clipped before the
        # mask branch), used by the paper-ablation configs. 'centermask2': centermask2's
        # inference (sqrt score, clip at the end, ...), set by the configs that mirror a
        # published model (docs/centermask.md, "Published models").
        postprocess='mmdet',
        fcos=dict(
            nms_pre=1000,
            min_bbox_size=0,
            score_thr=fcos_score_thr,
            nms=dict(type='nms', iou_threshold=0.6),
            max_per_img=50),
        mask=dict(mask_thr_binary=0.5)))
