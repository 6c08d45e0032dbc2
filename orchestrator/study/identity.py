"""Job identity: what makes two jobs the same job.

``job_id = sha256(resolved config hash, seed, data manifest, code fingerprint)``, shortened
to 16 hex digits:

* the resolved config is the mmengine config after ``_base_`` inheritance, the profile
  patch and the level patches, canonicalised (sorted keys, no volatile keys such as
  ``work_dir``; data roots are not in it because the data manifest, which hashes the
  annotation files, stands for them);
* the code fingerprint covers what the job runs of this project: the code (the source
  without comments, docstrings and blank lines, :func:`code_digest`) of the modules
  that define the registered types its config names (``type='CenterMask'``...), found by a
  static scan of the plugin package for ``@REGISTRY.register_module()`` classes, plus the
  project modules those import, transitively. Library types stand in through the versions
  of mmdet, mmengine and mmcv. Editing a module no job type reaches (a SAIS head, for a
  CenterMask study) changes no id; editing one it reaches changes exactly those jobs' ids.

Nothing is imported to find the modules (no torch at plan time). Two studies that describe
the same job (Table 3's and Table 4's V2-39 row) get the same id and the job runs once. The
git commit is lineage (a run tag), not identity.
"""
from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import io
import subprocess
import tokenize
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .configs import canonical

ID_LENGTH = 16
#: Libraries whose registered types a config may name; their versions stand for their code.
LIBRARIES = ("mmdet", "mmengine", "mmcv")


def job_id(config_hash: str, seed: int, data_manifest: Mapping[str, Any], code: str) -> str:
    """The identity hash of one job (16 hex digits)."""
    body = canonical({"config": config_hash, "seed": seed, "data": data_manifest,
                      "code": code})
    return hashlib.sha256(body.encode()).hexdigest()[:ID_LENGTH]


# --------------------------------------------------------------------------- source scan

def _register_names(node: ast.expr) -> list[str] | None:
    """Names a ``X.register_module(...)`` call registers under (``[]``: the decorated
    object's own name), or ``None`` when ``node`` is no such call."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "register_module"):
        return None
    for kw in node.keywords:
        if kw.arg == "name":
            value = kw.value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                return [value.value]
            if isinstance(value, ast.List | ast.Tuple):
                return [e.value for e in value.elts
                        if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return []


_DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def code_digest(source: bytes, tree: ast.Module) -> str:
    """sha256 of a module's code without its comments, docstrings, blank lines and trailing
    spaces, so editing prose changes no job's identity; any change to a statement does.

    Spans are cut from the text (``tree`` is ``source`` parsed) rather than hashing an AST
    dump, whose format changes between Python versions.
    """
    lines = source.splitlines()
    spans: list[tuple[int, int, int, int]] = []  # (line, byte col, end line, end byte col)
    for node in ast.walk(tree):
        body = getattr(node, "body", None) if isinstance(node, _DOCUMENTED) else None
        doc = body[0] if body else None
        if (isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant)
                and isinstance(doc.value.value, str) and doc.end_lineno is not None
                and doc.end_col_offset is not None):
            spans.append((doc.lineno, doc.col_offset, doc.end_lineno, doc.end_col_offset))
    for tok in tokenize.tokenize(io.BytesIO(source).readline):
        if tok.type == tokenize.COMMENT:  # tokenize counts characters, the cut counts bytes
            (row, col), end = tok.start, tok.end[1]
            prefix = tok.line[:col].encode()
            spans.append((row, len(prefix), row, len(prefix) + len(tok.line[col:end].encode())))
    for row, col, end_row, end_col in sorted(spans, reverse=True):
        first, last = lines[row - 1], lines[end_row - 1]
        lines[row - 1:end_row] = [first[:col] + last[end_col:]]
    kept = [ln.rstrip() for ln in lines if ln.strip()]
    return hashlib.sha256(b"\n".join(kept)).hexdigest()


def file_code_digest(path: Path) -> str:
    """:func:`code_digest` of the Python file at ``path``."""
    data = path.read_bytes()
    return code_digest(data, ast.parse(data, filename=str(path)))


@dataclass
class SourceIndex:
    """A static picture of one Python package: which module registers which type name, and
    which package modules each module imports.

    Attributes:
        package_dir: The package folder (``<repo>/centermask_mm``).
        types: Registered name -> the modules (paths) that register it.
        imports: Module path -> package module paths it imports.
        digests: Module path -> :func:`code_digest` of its source.
    """

    package_dir: Path
    types: dict[str, set[Path]] = field(default_factory=dict)
    imports: dict[Path, set[Path]] = field(default_factory=dict)
    digests: dict[Path, str] = field(default_factory=dict)
    _trees: dict[Path, ast.Module] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.package_dir.name

    # ------------------------------------------------------------------ modules

    def _module_path(self, dotted: str) -> Path | None:
        """``centermask_mm.models.x`` -> its file (module or package ``__init__``)."""
        parts = dotted.split(".")
        if parts[0] != self.name:
            return None
        base = self.package_dir.joinpath(*parts[1:])
        if base.with_suffix(".py").is_file():
            return base.with_suffix(".py")
        if (base / "__init__.py").is_file():
            return base / "__init__.py"
        return None

    def _dotted(self, path: Path) -> str:
        rel = path.relative_to(self.package_dir).with_suffix("")
        parts = [self.name, *rel.parts]
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    def _resolve_name(self, package: str, name: str, seen: set[str]) -> set[Path]:
        """The module(s) ``from package import name`` reaches: the submodule ``name``, else
        the module the package's ``__init__`` takes ``name`` from (so importing one class
        from a package does not count every module the ``__init__`` imports)."""
        sub = self._module_path(f"{package}.{name}")
        if sub is not None:
            return {sub}
        init = self._module_path(package)
        if init is None:
            return set()
        key = f"{package}:{name}"
        if key in seen:
            return {init}
        seen.add(key)
        for node in ast.walk(self._tree(init)):
            if isinstance(node, ast.ImportFrom) and any(
                    (a.asname or a.name) == name for a in node.names):
                source = self._absolute(node, init)
                if source is not None:
                    real = next(a.name for a in node.names if (a.asname or a.name) == name)
                    return self._resolve_name(source, real, seen)
        return {init}  # defined in the __init__ itself

    def _absolute(self, node: ast.ImportFrom, path: Path) -> str | None:
        if not node.level:
            return node.module
        package = self._dotted(path)
        if path.name != "__init__.py":
            package = package.rsplit(".", 1)[0]
        parts = package.split(".")
        if node.level > 1:
            parts = parts[: len(parts) - (node.level - 1)]
        return ".".join([*parts, *([node.module] if node.module else [])])

    def _tree(self, path: Path) -> ast.Module:
        if path not in self._trees:
            self._trees[path] = ast.parse(path.read_bytes(), filename=str(path))
        return self._trees[path]

    def _imports_of(self, path: Path) -> set[Path]:
        out: set[Path] = set()
        for node in ast.walk(self._tree(path)):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    target = self._module_path(alias.name)
                    if target is not None:
                        out.add(target)
            elif isinstance(node, ast.ImportFrom):
                source = self._absolute(node, path)
                if source is None or source.split(".")[0] != self.name:
                    continue
                for alias in node.names:
                    if alias.name == "*":
                        target = self._module_path(source)
                        out |= {target} if target else set()
                    else:
                        out |= self._resolve_name(source, alias.name, set())
        out.discard(path)
        return out

    @classmethod
    def scan(cls, package_dir: Path) -> SourceIndex:
        """Parse every ``.py`` file of ``package_dir`` (no import)."""
        index = cls(package_dir)
        for path in sorted(package_dir.rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            index.digests[path] = code_digest(path.read_bytes(), index._tree(path))
            for node in ast.walk(index._tree(path)):
                if isinstance(node, ast.ClassDef | ast.FunctionDef):
                    for deco in node.decorator_list:
                        names = _register_names(deco)
                        if names is not None:
                            for n in names or [node.name]:
                                index.types.setdefault(n, set()).add(path)
                elif isinstance(node, ast.Call):
                    names = _register_names(node)
                    module = next((kw.value for kw in node.keywords if kw.arg == "module"),
                                  None)
                    if names is not None and isinstance(module, ast.Name):
                        for n in names or [module.id]:
                            index.types.setdefault(n, set()).add(path)
        for path in index.digests:
            index.imports[path] = index._imports_of(path)
        return index

    # ------------------------------------------------------------------ closure

    def modules_for(self, type_names: Iterable[str]) -> set[Path]:
        """The modules registering ``type_names`` and every package module they import."""
        todo = [p for n in type_names for p in self.types.get(n.rsplit(".", 1)[-1], ())]
        out: set[Path] = set()
        while todo:
            path = todo.pop()
            if path not in out:
                out.add(path)
                todo.extend(self.imports.get(path, ()))
        return out


def config_types(tree: Any) -> set[str]:
    """Every ``type`` string in a config tree (models, datasets, transforms, hooks...)."""
    out: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            value = node.get("type")
            if isinstance(value, str):
                out.add(value)
            stack.extend(node.values())
        elif isinstance(node, list | tuple):
            stack.extend(node)
    return out


def package_versions(names: Iterable[str] = LIBRARIES) -> dict[str, str]:
    """Installed versions of the distributions ``names`` (``"absent"`` when not installed);
    by default those of :data:`LIBRARIES`."""
    out = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


@dataclass
class CodeFingerprint:
    """The code identity of configs, from one scan of the plugin package."""

    index: SourceIndex
    versions: dict[str, str] = field(default_factory=package_versions)

    @classmethod
    def of(cls, package_dir: Path) -> CodeFingerprint:
        """The fingerprint of ``package_dir`` as it is now (scanned once per process while
        no file's size or modification time changes)."""
        files = tuple(sorted((str(f), f.stat().st_mtime_ns, f.stat().st_size)
                             for f in package_dir.rglob("*.py")
                             if "__pycache__" not in f.parts))
        return cls(_scan(package_dir, files))

    def files(self, tree: Any) -> list[str]:
        """Package-relative paths of the modules ``tree``'s types reach, sorted."""
        root = self.index.package_dir
        return sorted(str(p.relative_to(root)) for p in
                      self.index.modules_for(config_types(tree)))

    def __call__(self, tree: Any) -> str:
        """16 hex digits over the reached modules' sources and the library versions."""
        root = self.index.package_dir
        paths = sorted(self.index.modules_for(config_types(tree)))
        body = canonical({"modules": {str(p.relative_to(root)): self.index.digests[p]
                                      for p in paths}, "libraries": self.versions})
        return hashlib.sha256(body.encode()).hexdigest()[:ID_LENGTH]


@lru_cache(maxsize=2)
def _scan(package_dir: Path, files: tuple[tuple[str, int, int], ...]) -> SourceIndex:
    """:meth:`SourceIndex.scan`, cached on the files' (path, mtime, size)."""
    return SourceIndex.scan(package_dir)


@lru_cache(maxsize=4)
def git_state(repo_root: Path) -> tuple[str, bool]:
    """(commit, dirty) of the repository, or ("unknown", True) outside git (lineage only)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo_root, check=True,
                                capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                    cwd=repo_root, check=True, capture_output=True, text=True,
                                    timeout=30).stdout.strip())
        return commit, dirty
    except (OSError, subprocess.SubprocessError):
        return "unknown", True
