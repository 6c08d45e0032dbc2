# CenterMask R-50-FPN as centermask2 builds it (Base-CenterMask-ResNet.yaml,
# centermask_R_50_FPN_ms_3x.yaml): the architecture of ./centermask_r50_fpn.py with
# detectron2's own ResNet and preprocessing, and centermask2's FCOS settings.
# - Backbone: detectron2 ResNet, STRIDE_IN_1X1 True (stride 2 in the 1x1 conv = mmdet
#   style='caffe'), FrozenBN (eps 1e-5), FREEZE_AT 2 (stem + res2 = frozen_stages=1).
# - Input: BGR, PIXEL_MEAN (103.53, 116.28, 123.675), PIXEL_STD (1, 1, 1) (detectron2
#   defaults; the centermask2 configs leave them), padded to a multiple of 32.
# - FCOS: INFERENCE_TH_TRAIN/TEST 0.05 (on sigmoid(cls), THRESH_WITH_CTR False),
#   PRE_NMS_TOPK 1000 per level, NMS 0.6, POST_NMS_TOPK_TRAIN 100, POST_NMS_TOPK_TEST 50.
# - Inference post-processing: centermask2's (sqrt(cls * ctr) score, boxes clipped at the
#   very end, ...): model.test_cfg.postprocess='centermask2' (see docs/centermask.md).
# Everything else (FPN P3-P7 on C3-C5, 4 + 4 GN tower convs, Eq. 2 on P3-P5, ROIAlignV2
# 14x14 sampling 0, SAG-Mask 4 x 256, MaskIoU 4 x 256) is already the base's.
_base_ = './centermask_r50_fpn.py'

# detectron2's ImageNetPretrained/MSRA/R-50.pkl, converted; local file, nothing is
# downloaded (mmdet's open-mmlab://detectron2/resnet50_caffe is a conversion of it).
pretrained = 'data/pretrained/resnet50_msra_caffe.pth'
centermask2_score_thr = 0.05
model = dict(
    data_preprocessor=dict(
        mean=[103.53, 116.28, 123.675], std=[1.0, 1.0, 1.0], bgr_to_rgb=False,
        pad_size_divisor=32),
    backbone=dict(
        style='caffe',
        frozen_stages=1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    # Only the score threshold and the post-processing differ from the base's FCOS
    # settings (PRE_NMS_TOPK 1000, NMS 0.6, 100 / 50 boxes are the base's values).
    train_cfg=dict(fcos_proposal=dict(score_thr=centermask2_score_thr)),
    test_cfg=dict(postprocess='centermask2', fcos=dict(score_thr=centermask2_score_thr)))
