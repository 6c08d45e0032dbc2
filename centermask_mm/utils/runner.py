"""Building mmengine's Runner the way mmdet's own tools do."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mmengine.config import Config
    from mmengine.runner import Runner


def build_runner(cfg: Config) -> Runner:
    """The runner of ``cfg``, with the centermask_mm plugins registered.

    As in mmdet's ``tools/train.py``: a config naming ``runner_type`` is built through
    mmdet's ``RUNNERS`` registry (a custom runner), any other with ``Runner.from_cfg``;
    torch.compile's cache size comes from the config (``setup_cache_size_limit_of_dynamo``).
    """
    from mmdet.registry import RUNNERS
    from mmdet.utils import setup_cache_size_limit_of_dynamo
    from mmengine.runner import Runner

    import centermask_mm  # noqa: F401  (registers the plugins even without custom_imports)

    setup_cache_size_limit_of_dynamo()
    return Runner.from_cfg(cfg) if "runner_type" not in cfg else RUNNERS.build(cfg)
