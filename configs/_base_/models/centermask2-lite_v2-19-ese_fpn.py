# CenterMask-Lite V-19-FPN as centermask2 builds it (Base-CenterMask-Lite-VoVNet.yaml):
# FPN.OUT_CHANNELS 128, FCOS NUM_CLS_CONVS = NUM_BOX_CONVS = 2 (at the FPN width, GN 32),
# SpatialAttentionMaskHead NUM_CONV 2 / CONV_DIM 128, MaskIoU NUM_CONV 2 / CONV_DIM 128
# (its FCs stay 1024), BACKBONE.FREEZE_AT 0, BGR mean-only input: all as
# ./centermask-lite_v2-19_fpn.py; FCOS thresholds and post-processing as
# ./centermask2_r50-caffe_fpn.py (INFERENCE_TH 0.05, centermask2's inference).
_base_ = './centermask-lite_v2-19_fpn.py'

centermask2_score_thr = 0.05
model = dict(
    train_cfg=dict(fcos_proposal=dict(score_thr=centermask2_score_thr)),
    test_cfg=dict(postprocess='centermask2', fcos=dict(score_thr=centermask2_score_thr)))
