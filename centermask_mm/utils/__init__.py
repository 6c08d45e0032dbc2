"""Small helpers shared by models, tools, tests and benchmarks."""
from .checkpoints import allow_full_checkpoint_load
from .param_count import count_params

__all__ = ["allow_full_checkpoint_load", "count_params"]
