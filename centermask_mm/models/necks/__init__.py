"""necks: each module registers one component in mmdet.registry."""

__all__: list[str] = []
