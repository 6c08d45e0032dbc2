"""Models: importing registers them in mmdet.registry.MODELS."""
