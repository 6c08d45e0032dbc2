"""Loading mmengine's own checkpoints under torch >= 2.6."""
from __future__ import annotations

import os


def allow_full_checkpoint_load() -> None:
    """Let ``torch.load`` unpickle mmengine checkpoints in full, unless the user decided.

    torch >= 2.6 loads with ``weights_only=True`` by default, which rejects mmengine's own
    checkpoints (they pickle the message hub). mmdet's tools loaded them in full with older
    torch; so do ours — load only checkpoints you trust. Exporting
    ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=0`` or ``TORCH_FORCE_WEIGHTS_ONLY_LOAD=1`` keeps torch's
    check. torch reads the variable at each ``torch.load`` call, so calling this after
    importing torch is enough.
    """
    if "TORCH_FORCE_WEIGHTS_ONLY_LOAD" not in os.environ:
        os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
