"""SAG-Mask head: the spatial attention module (paper Eqs. 3-4) and the head around it."""
from __future__ import annotations

import pytest
import torch
from mmdet.models.roi_heads.mask_heads import FCNMaskHead, MaskIoUHead

from centermask_mm.models.roi_heads import SAGMaskHead, SpatialAttention
from centermask_mm.utils import count_params


def test_sam_shapes_and_range() -> None:
    sam = SpatialAttention()
    x = torch.randn(3, 16, 14, 14)
    att = sam.attention(x)
    assert att.shape == (3, 1, 14, 14)
    assert bool(((att > 0) & (att < 1)).all())
    assert sam(x).shape == x.shape
    # one 3x3 conv 2 -> 1 without bias: 18 weights
    assert count_params(sam) == 18 and sam.conv.bias is None


def test_sam_follows_eqs_3_and_4() -> None:
    """A = sigmoid(conv3x3([max_c X; mean_c X])), X_sag = A * X, checked by hand."""
    sam = SpatialAttention()
    with torch.no_grad():
        sam.conv.weight.zero_()
        sam.conv.weight[0, 0, 1, 1] = 2.0  # centre tap on the channel-max map
        sam.conv.weight[0, 1, 1, 1] = -1.0  # centre tap on the channel-mean map
    x = torch.randn(2, 5, 6, 7)
    expected_att = torch.sigmoid(2.0 * x.amax(1, keepdim=True) - x.mean(1, keepdim=True))
    assert torch.allclose(sam(x), x * expected_att, atol=1e-6)


def test_sam_suppresses_and_keeps_spatially() -> None:
    """The same attention value multiplies every channel of a pixel."""
    sam = SpatialAttention()
    x = torch.rand(1, 8, 5, 5) + 0.1
    ratio = sam(x) / x
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio), atol=1e-6)


def _head(**kwargs) -> SAGMaskHead:
    cfg = dict(num_convs=2, in_channels=16, conv_out_channels=16, num_classes=5)
    cfg.update(kwargs)
    head = SAGMaskHead(**cfg)
    head.init_weights()
    return head


def test_sag_mask_head_shapes_and_switch() -> None:
    x = torch.randn(4, 16, 14, 14)
    with_sam, without = _head(), _head(with_sam=False)
    assert with_sam(x).shape == without(x).shape == (4, 5, 28, 28)
    assert with_sam.sam is not None and without.sam is None
    assert count_params(with_sam) - count_params(without) == 18


def test_sag_mask_head_without_sam_is_fcn_mask_head() -> None:
    """with_sam=False is Mask R-CNN's mask head (paper Table 1, "naive mask head")."""
    torch.manual_seed(0)
    ours = _head(with_sam=False)
    ref = FCNMaskHead(num_convs=2, in_channels=16, conv_out_channels=16, num_classes=5)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(2, 16, 14, 14)
    assert torch.allclose(ours(x), ref(x))


def test_sam_is_applied_before_the_deconv() -> None:
    """Zeroing the attention conv halves every pre-deconv feature (sigmoid(0) = 0.5)."""
    head = _head()
    with torch.no_grad():
        head.sam.conv.weight.zero_()
    feats = []
    head.upsample.register_forward_hook(lambda m, inp, out: feats.append(inp[0]))
    x = torch.randn(2, 16, 14, 14)
    head(x)
    y = x
    for conv in head.convs:
        y = conv(y)
    assert torch.allclose(feats[0], 0.5 * y, atol=1e-6)


@pytest.mark.parametrize(("convs", "width", "sag_params", "iou_params"), [
    (4, 256, 2_643_298, 16_340_304),  # CenterMask (spec §4.2, §4.4)
    (2, 128, 371_170, 7_851_472),  # CenterMask-Lite
])
def test_head_parameter_counts(convs: int, width: int, sag_params: int, iou_params: int) -> None:
    with torch.device("meta"):
        sag = SAGMaskHead(num_convs=convs, in_channels=width, conv_out_channels=width,
                          num_classes=80)
        iou = MaskIoUHead(num_convs=convs, in_channels=width, conv_out_channels=width,
                          num_classes=80)
    assert count_params(sag) == sag_params
    assert count_params(iou) == iou_params


def test_empty_rois() -> None:
    head = _head()
    preds = head(torch.randn(0, 16, 14, 14))
    assert preds.shape == (0, 5, 28, 28)
