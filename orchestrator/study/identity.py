"""Job identity: what makes two jobs the same job.

``job_id = sha256(resolved config hash, seed, data manifest, model code fingerprint)``,
shortened to 16 hex digits. The resolved config is the mmengine config after ``_base_``
inheritance, the profile patch and the level patches, canonicalised (sorted keys, no
volatile keys such as ``work_dir``; data roots are not in it because the data manifest,
which hashes the annotation files, stands for them). Two studies that describe the same
job (Table 3's and Table 4's V2-39 row) get the same id and the job runs once.
"""
from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from .configs import canonical

ID_LENGTH = 16


def code_fingerprint(package_dir: Path) -> str:
    """sha256 over the ``.py`` sources of ``package_dir`` (relative path + bytes), 16 hex."""
    h = hashlib.sha256()
    for path in sorted(package_dir.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        h.update(str(path.relative_to(package_dir)).encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:ID_LENGTH]


def job_id(config_hash: str, seed: int, data_manifest: Mapping[str, Any], code: str) -> str:
    """The identity hash of one job (16 hex digits)."""
    body = canonical({"config": config_hash, "seed": seed, "data": data_manifest,
                      "code": code})
    return hashlib.sha256(body.encode()).hexdigest()[:ID_LENGTH]


@lru_cache(maxsize=4)
def git_state(repo_root: Path) -> tuple[str, bool]:
    """(commit, dirty) of the repository, or ("unknown", True) outside git."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo_root, check=True,
                                capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                    cwd=repo_root, check=True, capture_output=True, text=True,
                                    timeout=30).stdout.strip())
        return commit, dirty
    except (OSError, subprocess.SubprocessError):
        return "unknown", True
