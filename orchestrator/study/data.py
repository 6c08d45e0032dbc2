"""Which data set a study runs on, and how the resolved config is pointed at it.

``data: auto`` picks COCO when it is found (``$CM_COCO_ROOT`` or ``<repo>/data/coco`` with
``annotations/instances_val2017.json``) and otherwise the synthetic toy set, generated into
the workspace (or ``$CM_TOY_ROOT``). The choice is printed loudly by the CLI and recorded
on every run as ``cm.dataset`` (``coco`` or ``toy:<fingerprint>``), so a toy number can
never pass for a COCO number.

Binding a config to a data set rewrites the data roots of the train/val/test dataloaders
and the evaluators' annotation files. When a COCO-configured model runs on the toy set, the
annotation files, image folders, class names and every ``num_classes`` in ``model`` are
switched to the toy set's as well.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import write_json
from .configs import Tree

COCO_MARKER = Path("annotations") / "instances_val2017.json"
_SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Dataset:
    """The data set a plan runs on.

    Attributes:
        kind: ``coco``, ``toy`` or ``none`` (configs without data, e.g. test jobs).
        root: Absolute data root, or ``None`` for ``none``.
        tag: Value of the ``cm.dataset`` tag.
        reason: One line saying why this data set was chosen (printed by the CLI).
        classes: Class names of the data set (toy), or ``None`` to keep the config's.
    """

    kind: str
    root: Path | None
    tag: str
    reason: str
    classes: tuple[str, ...] | None = field(default=None)

    def banner(self) -> str:
        """``reason`` as the CLI prints it: framed in '!' when the data is the toy set, so
        nobody mistakes toy numbers for COCO ones."""
        if self.kind != "toy":
            return self.reason
        line = "!" * 78
        return f"{line}\n!! {self.reason}\n{line}"


class DataError(RuntimeError):
    """The requested data set is not available."""


def coco_root(repo_root: Path) -> Path:
    env = os.environ.get("CM_COCO_ROOT")
    return Path(env).expanduser().resolve() if env else repo_root / "data" / "coco"


def toy_module() -> Any:
    """``centermask_mm.datasets.toy``, without importing the ``centermask_mm`` package when
    it is not imported yet.

    The package's ``__init__`` registers every model (torch, mmdet, mmcv: 10-20 s on a busy
    machine), which planning, ``table`` and a rerun with nothing to do never need; the toy
    generator itself needs only numpy, pycocotools and PIL, so its file is loaded alone.
    """
    import importlib.util
    import sys

    for name in ("centermask_mm.datasets.toy", "_centermask_mm_toy"):
        if name in sys.modules:
            return sys.modules[name]
    package = importlib.util.find_spec("centermask_mm")  # finds it without importing it
    if package is None or package.origin is None:
        raise DataError("the centermask_mm package is not installed (it makes the toy set)")
    path = Path(package.origin).parent / "datasets" / "toy.py"
    spec = importlib.util.spec_from_file_location("_centermask_mm_toy", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while defining
    spec.loader.exec_module(module)
    return module


def resolve_dataset(requested: str, workspace: Path, repo_root: Path,
                    toy_spec: Any = None) -> Dataset:
    """Decide the data set for ``requested`` (``auto`` | ``coco`` | ``toy`` | ``none``).

    Generates the toy set when it is chosen and missing (a few seconds).

    Args:
        toy_spec: ``centermask_mm.datasets.toy.ToySpec`` of the toy set (default spec if None).

    Raises:
        DataError: ``coco`` was requested and is not found.
    """
    if requested == "none":
        return Dataset("none", None, "none", "data: none (the config reads no data set)")
    coco = coco_root(repo_root)
    if requested in ("auto", "coco") and (coco / COCO_MARKER).exists():
        return Dataset("coco", coco, "coco", f"data: COCO at {coco}")
    if requested == "coco":
        raise DataError(f"data: coco, but no COCO at {coco} (no {COCO_MARKER}); set "
                        "CM_COCO_ROOT or use the toy profile")
    toy = toy_module()
    env = os.environ.get("CM_TOY_ROOT")
    # The set with COCO's categories (evaluation profiles) has its own folder: one folder
    # for both would regenerate the shared toy set whenever the other kind of study runs.
    folder = "toy-coco" if getattr(toy_spec, "coco_categories", False) else "toy"
    root = Path(env).expanduser().resolve() if env else workspace / "data" / folder
    marker = root / "SPEC.json"
    if env and toy_spec is None and marker.exists():
        # $CM_TOY_ROOT points at an existing toy set: use it as it is.
        spec = toy.ToySpec(**json.loads(marker.read_text()))
    else:
        spec = toy_spec or toy.ToySpec()
        toy.ensure(root, spec)
    why = ("COCO not found at " + str(coco) + "; using the SYNTHETIC TOY set"
           if requested == "auto" else "data: toy")
    return Dataset("toy", root, f"toy:{spec.fingerprint}",
                   f"{why} at {root} (cm.dataset=toy:{spec.fingerprint}; toy numbers are "
                   "not COCO numbers)", toy.classes(spec))


# --------------------------------------------------------------------------- binding

def _innermost(ds: Mapping[str, Any]) -> Mapping[str, Any]:
    """The dataset dict holding ``data_root`` (through RepeatDataset-style wrappers)."""
    while "data_root" not in ds and isinstance(ds.get("dataset"), Mapping):
        ds = ds["dataset"]
    return ds


def _dataloaders(tree: Mapping[str, Any]
                 ) -> Iterator[tuple[str, Mapping[str, Any], Mapping[str, Any]]]:
    """``(split, dataloader, innermost dataset)`` of each train/val/test dataloader of
    ``tree`` that has a dataset dict (read lazily: a caller may replace the dataloader of
    the split it was just given)."""
    for split in _SPLITS:
        dl = tree.get(f"{split}_dataloader")
        if isinstance(dl, Mapping) and isinstance(dl.get("dataset"), Mapping):
            yield split, dl, _innermost(dl["dataset"])


def _set_innermost(ds: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    if "data_root" not in ds and isinstance(ds.get("dataset"), Mapping):
        return {**ds, "dataset": _set_innermost(ds["dataset"], new)}
    return dict(new)


def _set_num_classes(node: Any, n: int) -> Any:
    if isinstance(node, Mapping):
        return {k: (n if k == "num_classes" and isinstance(v, int) else _set_num_classes(v, n))
                for k, v in node.items()}
    if isinstance(node, list | tuple):
        out = [_set_num_classes(v, n) for v in node]
        return tuple(out) if isinstance(node, tuple) else out
    return node


def _evaluators(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def bind(tree: Tree, data: Dataset) -> Tree:
    """``tree`` pointed at ``data`` (a new tree; ``tree`` is not modified)."""
    if data.kind == "none" or data.root is None:
        return tree
    root = str(data.root).rstrip("/") + "/"
    out = dict(tree)
    old_roots: list[str] = []
    swap = False
    for split, dl, inner in _dataloaders(out):
        ds = dict(inner)
        old_roots.append(str(ds.get("data_root") or ""))
        classes = (ds.get("metainfo") or {}).get("classes")
        if data.classes is not None and tuple(classes or ()) != data.classes:
            # A model configured for another data set (COCO) running on the toy set.
            swap = True
            name = "train" if split == "train" else "val"
            ds.update(ann_file=f"annotations/instances_{name}.json",
                      data_prefix=dict(img=f"{name}/"),
                      metainfo={**(ds.get("metainfo") or {}), "classes": data.classes})
        ds["data_root"] = root
        out[f"{split}_dataloader"] = {**dl, "dataset": _set_innermost(dl["dataset"], ds)}
    for split in ("val", "test"):
        key = f"{split}_evaluator"
        if key not in out:
            continue
        evs = []
        for ev in _evaluators(out[key]):
            if isinstance(ev, Mapping) and isinstance(ev.get("ann_file"), str):
                ann = ev["ann_file"]
                if swap:
                    ann = root + "annotations/instances_val.json"
                else:
                    for old in sorted(filter(None, old_roots), key=len, reverse=True):
                        if ann.startswith(old):
                            ann = root + ann[len(old):].lstrip("/")
                            break
                ev = {**ev, "ann_file": ann}
            evs.append(ev)
        out[key] = evs if isinstance(out[key], list | tuple) else evs[0]
    if swap and data.classes is not None and isinstance(out.get("model"), Mapping):
        out["model"] = _set_num_classes(out["model"], len(data.classes))
    return out


# --------------------------------------------------------------------------- manifest

def _file_hash(path: Path, cache: dict[str, Any]) -> str:
    st = path.stat()
    key = f"{path}|{st.st_size}|{st.st_mtime_ns}"
    if key not in cache:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        cache[key] = h.hexdigest()
    return cache[key]


def _under_root(ds: Mapping[str, Any], name: str) -> Path:
    """``name`` if absolute, else under the dataset's ``data_root``."""
    path = Path(name)
    return path if path.is_absolute() else Path(str(ds.get("data_root") or "")) / name


def annotation_files(tree: Tree) -> dict[str, Path]:
    """split -> annotation file of the bound config (absolute paths)."""
    return {split: _under_root(ds, ds["ann_file"]) for split, _, ds in _dataloaders(tree)
            if isinstance(ds.get("ann_file"), str) and ds["ann_file"]}


def image_dirs(tree: Tree) -> dict[str, Path]:
    """split -> image folder of the bound config (``data_root`` + ``data_prefix.img``)."""
    return {split: _under_root(ds, img) for split, _, ds in _dataloaders(tree)
            if isinstance(img := (ds.get("data_prefix") or {}).get("img"), str)}


def _coco_validation() -> Any:
    """``centermask_mm.datasets.coco_validation`` without importing ``centermask_mm`` (whose
    import registers the models: torch and mmdet, seconds the planner does not need)."""
    import importlib.util
    import sys

    name = "_cm_coco_validation"
    if name not in sys.modules:
        spec = importlib.util.find_spec("centermask_mm")
        assert spec is not None and spec.origin is not None, "centermask_mm is not installed"
        path = Path(spec.origin).parent / "datasets" / "coco_validation.py"
        mod_spec = importlib.util.spec_from_file_location(name, path)
        assert mod_spec is not None and mod_spec.loader is not None
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules[name] = module
        mod_spec.loader.exec_module(module)
    return sys.modules[name]


def manifest(tree: Tree, data: Dataset, cache_file: Path | None = None) -> dict[str, Any]:
    """The data part of a job's identity: the data set tag and its annotation file hashes.

    Hashes are cached by (path, size, mtime) in ``cache_file`` so COCO's large files are
    read once.

    Each annotation file is also validated (:func:`centermask_mm.datasets.validate_coco`:
    records, categories, boxes and masks inside their image, image files present) once per
    content hash, remembered in the same cache.

    Raises:
        DataError: An annotation file of the bound config is missing or invalid.
    """
    cache: dict[str, Any] = {}
    if cache_file is not None and cache_file.exists():
        cache = json.loads(cache_file.read_text())
    n_before = len(cache)
    files = {}
    images = image_dirs(tree)
    for split, path in annotation_files(tree).items():
        if not path.exists():
            raise DataError(f"{split} annotation file {path} does not exist")
        files[split] = _file_hash(path, cache)
        # Validated once per content (and image folder): a corrupt file is a plan-time
        # error naming the file and record, not a failure of every job that reads it.
        key = f"valid:{files[split]}:{images.get(split)}"
        if key not in cache:
            try:
                _coco_validation().validate_coco(path, images.get(split))
            except ValueError as exc:  # AnnotationError: names the file and the record
                raise DataError(f"{split} annotations: {exc}") from exc
            cache[key] = True
    if cache_file is not None and len(cache) != n_before:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        write_json(cache_file, cache, indent=None)
    return {"dataset": data.tag, "annotations": files}
