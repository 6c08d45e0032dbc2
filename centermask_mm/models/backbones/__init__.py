"""backbones: each module registers one component in mmdet.registry."""

from .vovnet import VoVNet

__all__: list[str] = ["VoVNet"]
