"""dense_heads: each module registers one component in mmdet.registry."""

from .center_aware_fcos_head import CenterAwareFCOSHead
from .sais_head import SAISHead
from .sais_protonet import SAISProtonet

__all__: list[str] = ["CenterAwareFCOSHead", "SAISHead", "SAISProtonet"]
