"""Loading mmengine's own checkpoints under torch >= 2.6.

torch >= 2.6 loads with ``weights_only=True`` by default: only tensors, containers,
primitives and allow-listed globals are unpickled. An mmengine checkpoint also pickles its
``MessageHub`` (``HistoryBuffer`` objects holding numpy arrays, and references to
``HistoryBuffer``'s statistics methods). :func:`register_checkpoint_safe_globals`, called
when ``centermask_mm`` is imported, allow-lists exactly those, so checkpoints load with
torch's check left on — by ``tools/*.py``, ``mim``, ``Runner`` resume and
``DetInferencer`` alike. :func:`allow_full_checkpoint_load` is the explicit opt-out for
trusted checkpoints that pickle anything else.
"""
from __future__ import annotations

import os
import pickle
from typing import Any

_registered = False


def _history_buffer_attribute(obj: Any, name: str) -> Any:
    """``getattr`` as a checkpoint may call it: a public method of ``HistoryBuffer`` only.

    A ``MessageHub`` pickles ``HistoryBuffer``'s statistics methods (``min``, ``max``,
    ``mean``, ``current``) as ``getattr(HistoryBuffer, name)``. Any other ``getattr`` in a
    ``weights_only`` load is refused, as torch itself would.
    """
    from mmengine.logging import HistoryBuffer

    if (obj is HistoryBuffer and isinstance(name, str) and not name.startswith("_")
            and callable(HistoryBuffer.__dict__.get(name))):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f"weights_only load: the checkpoint calls getattr({obj!r}, {name!r}); centermask_mm "
        "allows getattr only on mmengine's HistoryBuffer methods. If you trust the file, "
        "call centermask_mm.utils.allow_full_checkpoint_load() (or load it with "
        "torch.load(..., weights_only=False)).")


def register_checkpoint_safe_globals() -> None:
    """Allow-list (``torch.serialization.add_safe_globals``) what mmengine checkpoints pickle.

    That is ``mmengine.logging.HistoryBuffer``, numpy arrays and scalars of numeric dtypes
    (``_reconstruct``, ``ndarray``, ``dtype`` and its numeric subclasses, ``scalar``; under
    numpy 2 and numpy 1 names) and a ``getattr`` restricted to ``HistoryBuffer``'s methods.
    None of these runs code from the file. Idempotent.
    """
    global _registered
    if _registered:
        return
    import numpy as np
    import torch
    from mmengine.logging import HistoryBuffer

    multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
    numeric = (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
               np.uint32, np.uint64, np.float16, np.float32, np.float64)
    dtype_classes = sorted({type(np.dtype(t)) for t in numeric}, key=lambda c: c.__name__)
    safe: list[Any] = [HistoryBuffer, np.ndarray, np.dtype, *dtype_classes,
                       multiarray._reconstruct, multiarray.scalar,
                       (_history_buffer_attribute, "builtins.getattr")]
    # Checkpoints written under numpy 1.x name the same functions numpy.core.multiarray.*.
    safe += [(multiarray._reconstruct, "numpy.core.multiarray._reconstruct"),
             (multiarray.scalar, "numpy.core.multiarray.scalar")]
    torch.serialization.add_safe_globals(safe)
    _registered = True


def allow_full_checkpoint_load() -> None:
    """Let ``torch.load`` unpickle checkpoints in full, unless the user decided.

    Not needed for checkpoints written by mmengine's ``Runner`` (see
    :func:`register_checkpoint_safe_globals`); for a trusted checkpoint that pickles other
    objects. Sets ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` for this process unless
    ``TORCH_FORCE_WEIGHTS_ONLY_LOAD`` or it is already set. torch reads the variable at each
    ``torch.load`` call, so calling this after importing torch is enough. Load only
    checkpoints you trust.
    """
    if "TORCH_FORCE_WEIGHTS_ONLY_LOAD" not in os.environ:
        os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
