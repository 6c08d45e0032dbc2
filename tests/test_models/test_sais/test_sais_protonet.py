"""SAISProtonet: mask assembly sigma(P C), padding-aware crops, loss and prediction."""
from __future__ import annotations

import pytest
import torch
from mmdet.structures.mask import BitmapMasks
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

from centermask_mm.models.dense_heads import SAISProtonet

K = 4


def _protonet(**kwargs) -> SAISProtonet:
    torch.manual_seed(0)
    head = SAISProtonet(num_classes=3, in_channels=8, num_protos=K,
                        proto_channels=(8, None, 8, K), proto_kernel_sizes=(3, -2, 3, 1),
                        test_cfg=ConfigDict(mask_thr=0.5), **kwargs)
    head.init_weights()
    return head


def _info(coeffs: torch.Tensor, boxes: list[list[float]], gt_inds: list[int] | None = None):
    info = InstanceData()
    info.coeffs = coeffs
    info.bboxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    if gt_inds is not None:
        info.pos_assigned_gt_inds = torch.tensor(gt_inds, dtype=torch.long)
    return info


def test_mask_assembly_is_sigmoid_of_prototypes_times_coefficients() -> None:
    head = _protonet()
    p3 = torch.rand(2, 8, 16, 16)
    coeffs = [torch.rand(3, K) * 2 - 1, torch.rand(0, K)]
    masks, segm = head((p3,), [_info(coeffs[0], [[0, 0, 8, 8]] * 3), _info(coeffs[1], [])])
    assert segm is None
    # P3 is stride 8; one x2 upsampling gives stride-4 prototypes.
    assert masks[0].shape == (32, 32, 3) and masks[1].shape == (32, 32, 0)
    protos = head.protonet(p3)[0].permute(1, 2, 0)
    torch.testing.assert_close(masks[0], torch.sigmoid(protos @ coeffs[0].t()))


def test_coefficient_count_must_match() -> None:
    head = _protonet()
    with pytest.raises(ValueError, match='num_protos'):
        head((torch.rand(1, 8, 8, 8),), [_info(torch.rand(2, K + 1), [[0, 0, 4, 4]] * 2)])
    with pytest.raises(ValueError, match='proto_channels'):
        SAISProtonet(num_classes=3, num_protos=8, proto_channels=(16, 4))


def test_crop_uses_the_padded_batch_shape() -> None:
    head = _protonet()
    masks = [torch.ones(16, 32, 1)]  # prototypes over a 64 x 128 padded batch (stride 4)
    meta = dict(img_shape=(64, 64), batch_input_shape=(64, 128))
    (cropped,) = head.crop_mask_preds(masks, [meta], [_info(torch.zeros(1, K), [[0, 0, 32, 64]])])
    # Box x in [0, 32) px -> prototype columns [0, 8) (+1 padding), all rows.
    cols = cropped[0].sum(0).nonzero().reshape(-1)
    assert cols.min() == 0 and cols.max() == 8


def test_predict_drops_padding_and_rescales() -> None:
    head = _protonet()
    # Image 48 x 64 inside a 64 x 64 padded batch, original image 96 x 128.
    meta = dict(img_shape=(48, 64), batch_input_shape=(64, 64), ori_shape=(96, 128),
                scale_factor=(0.5, 0.5))
    mask = torch.zeros(1, 16, 16)
    mask[0, :12, :8] = 1.0  # left half of the real image (rows 0-47 px, cols 0-31 px)
    boxes = torch.tensor([[0., 0., 32., 48.]])
    out = head._predict_by_feat_single(mask, boxes, meta, rescale=True)
    assert out.shape == (1, 96, 128) and out.dtype == torch.bool
    assert out[0, :, :60].float().mean() > 0.95 and out[0, :, 68:].sum() == 0
    torch.testing.assert_close(boxes, torch.tensor([[0., 0., 64., 96.]]))  # in place


def test_loss_empty_and_nonempty() -> None:
    head = _protonet()
    meta = dict(img_shape=(32, 32), batch_input_shape=(32, 32))
    p3 = torch.rand(1, 8, 4, 4)
    gt = InstanceData(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long),
                      masks=BitmapMasks(torch.zeros(0, 32, 32).numpy(), 32, 32))
    info = _info(torch.zeros(0, K, requires_grad=True), [], [])
    masks, segm = head((p3,), [info])
    loss = head.loss_by_feat(masks, segm, [gt], [meta], [info])
    assert loss['loss_mask'][0] == 0 and set(loss) == {'loss_mask'}

    bitmap = torch.zeros(1, 32, 32)
    bitmap[0, 8:24, 8:24] = 1
    gt = InstanceData(bboxes=torch.tensor([[8., 8., 24., 24.]]), labels=torch.tensor([0]),
                      masks=BitmapMasks(bitmap.numpy().astype('uint8'), 32, 32))
    info = _info(torch.rand(2, K, requires_grad=True), [[8., 8., 24., 24.]] * 2, [0, 0])
    masks, segm = head((p3,), [info])
    loss = head.loss_by_feat(masks, segm, [gt], [meta], [info])['loss_mask'][0]
    assert loss > 0
    loss.backward()
    assert info.coeffs.grad.abs().sum() > 0


def test_optional_semantic_branch() -> None:
    head = _protonet(with_seg_branch=True)
    head.train()
    p3 = torch.rand(1, 8, 4, 4)
    info = _info(torch.zeros(0, K), [], [])
    masks, segm = head((p3,), [info])
    assert segm.shape == (1, 3, 4, 4)
    gt = InstanceData(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long),
                      masks=BitmapMasks(torch.zeros(0, 32, 32).numpy(), 32, 32))
    meta = dict(img_shape=(32, 32), batch_input_shape=(32, 32))
    assert set(head.loss_by_feat(masks, segm, [gt], [meta], [info])) == {
        'loss_mask', 'loss_segm'}
