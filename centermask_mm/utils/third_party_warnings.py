"""Filters for warnings that third-party code prints to every user and that no user can act on.

Each filter names the exact message, category and the module the warning is attributed to;
nothing else is hidden. Applied when ``centermask_mm`` is imported.
"""
from __future__ import annotations

import warnings

#: (message regex, category, module regex of the code the warning is attributed to, why).
KNOWN: list[tuple[str, type[Warning], str, str]] = [
    # mmdet's point generator calls torch.meshgrid(y, x) without `indexing`; torch then warns
    # (once per process, from C++) about a future default. mmdet relies on today's 'ij'.
    (r"torch\.meshgrid: in an upcoming release, it will be required to pass the indexing "
     r"argument", UserWarning, r"torch\.functional", "mmdet MlvlPointGenerator._meshgrid"),
    # setuptools >= 80.9 turned the pkg_resources import warning into a UserWarning; mmengine's
    # and openmim's package helpers import and reload pkg_resources on every command.
    # scripts/setup.sh pins setuptools < 80.9 (a DeprecationWarning there, not shown); this
    # covers environments set up otherwise.
    (r"pkg_resources is deprecated as an API", UserWarning,
     r"(mmengine\.utils\.package_utils|mim\..*|importlib)", "mmengine / openmim"),
]


def filter_third_party_warnings() -> None:
    """Install the :data:`KNOWN` filters (``warnings.filterwarnings``, idempotent)."""
    for message, category, module, _why in KNOWN:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)
