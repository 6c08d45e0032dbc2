"""SAG-Mask: the spatial attention-guided mask head of CenterMask (paper Sec. 2.4)."""
from __future__ import annotations

import torch
from mmdet.models.roi_heads.mask_heads import FCNMaskHead
from mmdet.registry import MODELS
from torch import Tensor, nn


class SpatialAttention(nn.Module):
    """Spatial attention module (SAM), paper Eqs. 3-4.

    ``A = sigmoid(conv3x3([max_c(X); mean_c(X)]))`` and ``X_sag = A * X``: channel-wise max
    and mean pooling give two (1, H, W) maps, they are concatenated, a 3x3 conv without bias
    maps them to one attention map, and the sigmoid of it rescales every channel.

    Args:
        kernel_size (int): Size of the attention conv. Defaults to 3.

    Shape:
        ``(B, C, H, W) -> (B, C, H, W)``.
    """

    def __init__(self, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def attention(self, x: Tensor) -> Tensor:
        """Attention map A_sag(x) in (0, 1), shape (B, 1, H, W)."""
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return self.conv(pooled).sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        return x * self.attention(x)


@MODELS.register_module()
class SAGMaskHead(FCNMaskHead):
    """FCN mask head with CenterMask's spatial attention between the convs and the deconv.

    Layout: ``num_convs`` x (conv3x3, ReLU) -> SAM (if ``with_sam``) -> 2x2 deconv + ReLU
    (14 -> 28) -> 1x1 class-specific predictor. With ``with_sam=False`` it is Mask R-CNN's
    mask head (paper Table 1, "naive mask head"). Loss and test-time pasting are
    ``FCNMaskHead``'s (per-pixel BCE on the GT-class channel, 28x28 targets).

    Args:
        with_sam (bool): Insert the spatial attention module. Defaults to True.
        sam_kernel_size (int): SAM conv size. Defaults to 3.
        **kwargs: ``FCNMaskHead`` arguments (``num_convs``, ``in_channels``,
            ``conv_out_channels``, ``num_classes``, ``loss_mask``, ...).

    Shape:
        ``(N, C_in, 14, 14) -> (N, num_classes, 28, 28)`` logits.
    """

    def __init__(self, with_sam: bool = True, sam_kernel_size: int = 3, **kwargs) -> None:
        super().__init__(**kwargs)
        self.with_sam = with_sam
        self.sam = SpatialAttention(sam_kernel_size) if with_sam else None

    def init_weights(self) -> None:
        # FCNMaskHead rejects init_cfg, so the SAM conv is initialised here (MSRA fill as in
        # centermask2) next to the stock kaiming init of the deconv and predictor.
        super().init_weights()
        if self.sam is not None:
            nn.init.kaiming_normal_(self.sam.conv.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        """Mask logits (N, num_classes, 28, 28) from RoI features (N, C_in, 14, 14)."""
        for conv in self.convs:
            x = conv(x)
        if self.sam is not None:
            x = self.sam(x)
        if self.upsample is not None:
            x = self.upsample(x)
            if self.upsample_method == "deconv":
                x = self.relu(x)
        return self.conv_logits(x)
