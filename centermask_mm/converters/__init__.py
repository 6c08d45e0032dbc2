"""Checkpoint converters from the public CenterMask implementations.

Run them as modules: ``python -m centermask_mm.converters.centermask2 SRC DST [--config CFG]``.
Nothing is imported here, so ``import centermask_mm`` stays light.
"""
