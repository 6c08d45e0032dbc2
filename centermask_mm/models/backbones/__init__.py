"""backbones: each module registers one component in mmdet.registry."""

from .truncated_mobilenet_v2 import TruncatedMobileNetV2
from .vovnet import VoVNet

__all__: list[str] = ["TruncatedMobileNetV2", "VoVNet"]
