"""Small helpers shared by models, tests and benchmarks."""
from .param_count import count_params

__all__ = ["count_params"]
