"""Checkpoint converters from the public CenterMask implementations.

Run them as modules, e.g. ``python -m centermask_mm.converters.vovnet_detectron2 IN OUT``.
Nothing is imported here, so ``import centermask_mm`` stays light.
"""
