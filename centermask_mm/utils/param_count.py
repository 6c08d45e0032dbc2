"""Parameter counting in the papers' convention (detectron2 FrozenBN)."""
from __future__ import annotations

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def count_params(model: nn.Module, exclude_norm_affine: bool = True) -> int:
    """Count the parameters of ``model``, each shared tensor once.

    The CenterMask / VoVNet papers count with detectron2's FrozenBN, whose affine
    weight and bias are buffers, so BatchNorm affine parameters are not included. We
    emulate FrozenBN with ``requires_grad=False`` BN, whose affine tensors are still
    ``nn.Parameter``; ``exclude_norm_affine`` drops them. GroupNorm (FCOS towers) and
    other norms stay counted: they are trainable in detectron2 too, and the published
    whole-model totals include them.

    ``requires_grad`` is ignored, so frozen stages still count.

    Args:
        model (nn.Module): Any module.
        exclude_norm_affine (bool): Skip the weight and bias of BatchNorm layers
            (``_BatchNorm`` subclasses, including SyncBN). Defaults to True.

    Returns:
        int: Number of scalar parameters.
    """
    excluded: set[int] = set()
    if exclude_norm_affine:
        for module in model.modules():
            if isinstance(module, _BatchNorm):
                excluded.update(id(p) for p in module.parameters(recurse=False))
    return sum(p.numel() for p in model.parameters() if id(p) not in excluded)
