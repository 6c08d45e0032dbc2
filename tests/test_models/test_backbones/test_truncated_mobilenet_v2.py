"""TruncatedMobileNetV2: mmdet's MobileNetV2 outputs, without the layers nobody reads."""
from __future__ import annotations

import pytest
import torch
from mmdet.models.backbones import MobileNetV2
from mmdet.registry import MODELS

from centermask_mm.models.backbones import TruncatedMobileNetV2
from centermask_mm.utils import count_params


def _pair(out_indices: tuple[int, ...]) -> tuple[MobileNetV2, TruncatedMobileNetV2]:
    full = MobileNetV2(out_indices=out_indices)
    trunc = TruncatedMobileNetV2(out_indices=out_indices)
    missing, unexpected = trunc.load_state_dict(full.state_dict(), strict=False)
    dropped = tuple(f"{name}." for name in full.layers[max(out_indices) + 1:])
    assert not missing and unexpected and all(k.startswith(dropped) for k in unexpected)
    full.eval()  # mmdet's MobileNetV2.train returns None, so no chaining
    trunc.eval()
    return full, trunc


@pytest.mark.parametrize("out_indices", [(2, 4, 6), (1, 2, 4)])
def test_same_outputs_as_mmdet_minus_trailing_layers(out_indices) -> None:
    full, trunc = _pair(out_indices)
    x = torch.rand(2, 3, 96, 128)
    with torch.no_grad():
        expected, got = full(x), trunc(x)
    assert len(got) == len(expected) == len(out_indices)
    for e, g in zip(expected, got, strict=True):
        assert torch.equal(e, g)
    assert trunc.layers == full.layers[:max(out_indices) + 1]
    assert not hasattr(trunc, "conv2")


def test_every_parameter_gets_a_gradient_and_conv2_is_gone() -> None:
    """What DDP needs without find_unused_parameters; 0.41 M fewer parameters."""
    net = MODELS.build(dict(type="TruncatedMobileNetV2", out_indices=(2, 4, 6)))
    sum(o.sum() for o in net(torch.rand(1, 3, 64, 64))).backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)
    full = MobileNetV2(out_indices=(2, 4, 6))
    assert count_params(full) - count_params(net) == count_params(full.conv2) > 400_000


def test_frozen_stages_still_freeze() -> None:
    net = TruncatedMobileNetV2(out_indices=(2, 4, 6), frozen_stages=2)
    net.train()
    assert not any(p.requires_grad for p in net.conv1.parameters())
    assert not any(p.requires_grad for p in net.layer2.parameters())
    assert all(p.requires_grad for p in net.layer3.parameters())
