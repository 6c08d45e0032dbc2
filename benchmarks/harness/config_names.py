"""``package::relative/path.py`` config names, resolved the way mmengine resolves a ``_base_``.

Torch-free (only ``mmengine.config``, imported on call), so the orchestrator's planner uses it
too; each caller raises its own error type.
"""
from __future__ import annotations

from pathlib import Path


def package_config_path(name: str, error: type[Exception] = LookupError) -> Path:
    """Path of the config ``name`` = ``package::relative/path.py`` inside an installed package.

    Uses mmengine's own lookup (the package's mim metafiles, else its ``.mim/configs``
    folder).

    Args:
        name: The config name; it must contain ``::``.
        error: Exception type raised on failure (the caller's own error class).

    Raises:
        error: ``package`` is not an installed OpenMMLab package, or it has no such config;
            the message names the config, the package and the relative path.
    """
    from mmengine.config import Config

    package, rel = name.split("::", 1)
    try:
        path, _ = Config._get_cfg_path(name, "")
    except (AssertionError, ImportError, ValueError) as exc:
        raise error(f"config {name!r}: package {package!r} is not an installed OpenMMLab "
                    f"package ({exc})") from exc
    except FileNotFoundError as exc:
        raise error(f"config {name!r}: no {rel} in {package}'s configs") from exc
    return Path(path)
