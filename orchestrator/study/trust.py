"""The trust boundary of a study file: it is data, and may not run or load code from
anywhere it likes (README "Trust boundary").

A study's ``base:`` is Python (an mmengine ``.py`` config runs when it is read), and some
patch values make a job import modules or unpickle files. Unless the user passes
``--allow-outside-configs`` (``$CM_ALLOW_OUTSIDE_CONFIGS=1``):

* ``base:`` must resolve inside the repository's configs (``configs/``, and the fake
  configs in ``orchestrator/testing/configs/``) or, as ``pkg::path``, inside an installed
  package's configs, with no ``..`` in the path;
* a patch may not set ``custom_imports`` (it imports modules in the planner and the job);
* a patch's path-like strings (absolute, ``~``, ``..``) must stay inside the repository,
  and URLs must be OpenMMLab's or PyTorch's download servers (checkpoints are unpickled).

YAML configs (a base, or a ``_base_`` of one) are read with PyYAML's safe loader
(:func:`safe_yaml_configs`), never the full loader mmengine defaults to.
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from .configs import PatchIssue, patch_key_path

ENV = "CM_ALLOW_OUTSIDE_CONFIGS"
#: URL prefixes a patch may name (published checkpoints of mmdet/mmpretrain and torchvision).
TRUSTED_URLS: tuple[str, ...] = ("https://download.openmmlab.com/",
                                 "https://download.pytorch.org/")
_FLAG = "--allow-outside-configs"


def outside_allowed() -> bool:
    """Whether the user lifted the boundary (``--allow-outside-configs``)."""
    return os.environ.get(ENV) == "1"


def config_roots(repo_root: Path) -> list[Path]:
    """The repository's config folders a study's ``base:`` may name."""
    return [repo_root / "configs", repo_root / "orchestrator" / "testing" / "configs"]


def base_problem(name: str, resolved: Path | None, repo_root: Path) -> str | None:
    """Why ``base: name`` (found at ``resolved``; ``None``: not looked up yet, only the
    name is checked) crosses the boundary, or ``None``."""
    if outside_allowed():
        return None
    if "::" in name:
        rel = PurePosixPath(name.split("::", 1)[1])
        if rel.is_absolute() or ".." in rel.parts:
            return (f"{name!r} leaves the package's configs ('..' or an absolute path); "
                    f"pass {_FLAG} to read a config from elsewhere")
        return None  # resolve_config_path finds it inside the package's configs
    if resolved is None:
        return None
    real = resolved.resolve()
    roots = config_roots(repo_root)
    if any(real.is_relative_to(r.resolve()) for r in roots):
        return None
    where = ", ".join(str(r.relative_to(repo_root)) + "/" for r in roots)
    return (f"{name!r} is {real}, outside the repository's configs ({where}) and installed "
            f"packages' (pkg::path): a config is Python and runs when read; pass {_FLAG} "
            "to use one from elsewhere")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def patch_trust_issues(patch: Mapping[str, Any], repo_root: Path) -> list[PatchIssue]:
    """Patch keys whose values would import code or read files outside the boundary."""
    if outside_allowed():
        return []
    issues = []
    root = repo_root.resolve()
    for raw_key, value in patch.items():
        key = patch_key_path(raw_key)
        if key.split(".")[0] == "custom_imports" or (
                isinstance(value, Mapping) and "custom_imports" in value):
            issues.append(PatchIssue(raw_key, f"custom_imports imports code; a study may not "
                                              f"set it (pass {_FLAG} to allow)"))
            continue
        for s in _strings(value):
            if "://" in s:
                if not s.startswith(TRUSTED_URLS):
                    issues.append(PatchIssue(raw_key, (
                        f"{s!r}: only {', '.join(TRUSTED_URLS)} URLs (files from a URL may be "
                        f"unpickled); pass {_FLAG} to allow")))
            elif s.startswith(("/", "~")) or ".." in PurePosixPath(s.split("::")[-1]).parts:
                # Jobs run in the repository (Launch.cwd), so a relative path is read from there.
                if "::" in s or not (root / Path(s).expanduser()).resolve().is_relative_to(root):
                    issues.append(PatchIssue(raw_key, (
                        f"{s!r} points outside the repository; pass {_FLAG} to allow")))
    return issues


def safe_yaml_configs() -> None:
    """Make mmengine read YAML configs with PyYAML's safe loader (idempotent)."""
    import yaml
    from mmengine.fileio.handlers import YamlHandler, file_handlers

    if getattr(file_handlers.get("yaml"), "safe", False):
        return

    class SafeYamlHandler(YamlHandler):
        safe = True

        def load_from_fileobj(self, file: Any, **kwargs: Any) -> Any:
            kwargs["Loader"] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            return yaml.load(file, **kwargs)  # noqa: S506 - the safe loader, forced

    for ext in ("yaml", "yml"):  # mmengine's own registry of loaders by extension
        file_handlers[ext] = SafeYamlHandler()
