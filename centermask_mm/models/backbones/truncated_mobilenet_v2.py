"""mmdet's MobileNetV2 cut after its last requested output (CenterMask Table 3, Lite M-v2).

CenterMask reads C3-C5 from MobileNetV2 (``out_indices=(2, 4, 6)``: the stride-8/16/32
stages of 32/96/320 channels). mmdet's ``MobileNetV2`` always builds and runs its final
320 -> 1280 1x1 conv as well (``conv2``, layer index 7, 0.41 M parameters), whose output
nothing reads: time spent in every forward pass, and weights that never get a gradient,
which DistributedDataParallel rejects unless ``find_unused_parameters=True``. This
subclass drops every layer after ``max(out_indices)``; its outputs are identical.
"""
from __future__ import annotations

from mmdet.models.backbones import MobileNetV2
from mmdet.registry import MODELS

__all__ = ['TruncatedMobileNetV2']


@MODELS.register_module()
class TruncatedMobileNetV2(MobileNetV2):
    """``MobileNetV2`` without the layers past ``max(out_indices)``.

    Same arguments as mmdet's ``MobileNetV2``. ImageNet checkpoints of the full network
    load with the dropped layers' keys reported as unexpected (mmengine's non-strict load).

    Example:
        >>> import torch
        >>> net = TruncatedMobileNetV2(out_indices=(2, 4, 6))
        >>> [o.shape[1] for o in net(torch.rand(1, 3, 64, 64))]
        [32, 96, 320]
        >>> hasattr(net, 'conv2')
        False
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        last = max(self.out_indices)
        for name in self.layers[last + 1:]:
            delattr(self, name)
        self.layers = self.layers[:last + 1]
