"""Small helpers shared by models, tools, tests and benchmarks."""
from .checkpoints import allow_full_checkpoint_load, register_checkpoint_safe_globals
from .param_count import count_params
from .runner import build_runner

__all__ = ["allow_full_checkpoint_load", "build_runner", "count_params",
           "register_checkpoint_safe_globals"]
