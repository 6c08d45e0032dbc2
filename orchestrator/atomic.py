"""One atomic writer for every file a process reads back (config.py, job.json, result.json).

A file is written to ``<name>.tmp`` next to it and renamed over the target: a reader (or a
rerun after a SIGKILL) sees the old file or the new one, never half of one. The window
between the two is a named fault point (``write:<name>``) for the fault-injection tests.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .faults import fault_point


def write_atomic(path: Path, data: str | bytes) -> None:
    """Replace ``path`` with ``data`` atomically (same folder, so the rename is atomic)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    if isinstance(data, bytes):
        tmp.write_bytes(data)
    else:
        tmp.write_text(data)
    fault_point(f"write:{path.name}")
    os.replace(tmp, path)


def write_json(path: Path, data: Mapping[str, Any] | list[Any], indent: int | None = 1
               ) -> None:
    """:func:`write_atomic` of ``data`` as JSON (non-JSON values as their ``str``)."""
    write_atomic(path, json.dumps(data, indent=indent, default=str))
