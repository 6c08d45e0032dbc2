"""Resolved configs as plain data: load once, patch copy-on-write, diff, hash.

A base config is loaded with mmengine's ``Config`` (``_base_`` inheritance, ``mmdet::``
bases) once per file and turned into plain dicts/lists/tuples. A patch then copies only
the containers on the paths it touches, so a 1,000-job study shares almost everything with
its base and planning stays fast.

Patch semantics (one study level or profile ``patch``):

* ``a.b.c: value`` sets an existing key; integer parts index lists (``pipeline.2.scale``).
* A dict value merges into an existing dict key by key (mmengine semantics), unless it
  carries ``_delete_: true``, which replaces the whole dict.
* ``+a.b.new: value`` adds a key the config does not have (its parent must exist).
* The new value must have the old value's type: bool stays bool, numbers stay numbers,
  strings stay strings, lists/tuples stay sequences (a YAML list becomes a tuple where the
  config had a tuple), dicts stay dicts; ``null`` on either side is allowed.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Tree = dict[str, Any]

#: Keys that never change what a job computes; excluded from identity hashes.
VOLATILE_KEYS: frozenset[str] = frozenset({"work_dir", "resume", "launcher"})


@dataclass(frozen=True)
class PatchIssue:
    """A patch key that cannot be applied.

    Attributes:
        key: The patch key as written (``model.backbone.depht``).
        message: Why, with the closest existing key when there is one.
    """

    key: str
    message: str


class ConfigLoadError(RuntimeError):
    """A base config could not be read by mmengine."""


_LOADED: dict[tuple[str, int], Tree] = {}

#: Patch-key markers: ``+key`` adds a key the config lacks; ``?key`` sets the key where the
#: config has it and is skipped where it does not (an override spanning combinations whose
#: configs differ, e.g. a backbone without ``frozen_stages``).
ADD, WHERE_PRESENT = "+", "?"


def patch_key_path(raw_key: str) -> str:
    """The dotted config path of a patch key, without its ``+`` / ``?`` marker."""
    return raw_key[1:] if raw_key[:1] in (ADD, WHERE_PRESENT) else raw_key


def resolve_config_path(name: str, repo_root: Path) -> Path:
    """A config path as written in a study: repo-relative, absolute, or ``mmdet::x.py``."""
    if "::" in name:
        from benchmarks.harness.config_names import package_config_path

        return package_config_path(name, ConfigLoadError)
    path = Path(name)
    return path if path.is_absolute() else repo_root / path


def load_base(path: Path) -> Tree:
    """The fully inherited config at ``path`` as plain data (cached per file and mtime).

    Raises:
        ConfigLoadError: mmengine could not parse the file (the message says why).
    """
    try:
        key = (str(path.resolve()), path.stat().st_mtime_ns)
    except OSError as exc:
        raise ConfigLoadError(f"{path}: {exc.strerror}") from exc
    if key not in _LOADED:
        from mmengine.config import Config

        from .trust import safe_yaml_configs

        safe_yaml_configs()  # a YAML config (or _base_) never runs a python tag

        try:
            # Without the config's custom_imports: reading a config must not import torch,
            # mmdet and the plugins (10-40 s on a busy machine); build_model imports them
            # when a model is really built, and the job process when it trains.
            cfg = Config.fromfile(str(path), import_custom_modules=False)
        except Exception as exc:  # noqa: BLE001 - any parse failure is the user's config
            raise ConfigLoadError(f"{path}: {type(exc).__name__}: {exc}") from exc
        _LOADED[key] = _plain(cfg.to_dict())
    return _LOADED[key]


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_plain(v) for v in obj)
    return obj


# --------------------------------------------------------------------------- patching

def _kind(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "sequence"
    if isinstance(value, Mapping):
        return "mapping"
    return type(value).__name__


def _coerce(old: Any, new: Any) -> Any:
    """``new`` shaped like ``old`` where that is lossless (list -> tuple), recursively.

    YAML has no tuples, and mmcv's transforms insist on them at any depth (a
    ``RandomResize`` scale range is a list of ``(w, h)`` tuples). Elements follow the old
    value's first element when the old sequence is homogeneous in shape.
    """
    if isinstance(old, list | tuple) and isinstance(new, list | tuple):
        proto = old[0] if old else None
        items = [_coerce(old[i] if i < len(old) else proto, v) for i, v in enumerate(new)]
        return tuple(items) if isinstance(old, tuple) else items
    return new


def _suggest(key: Any, options: Any) -> str:
    names = [str(o) for o in options]
    close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


#: A path element that picks the one list item whose ``key`` is ``value``:
#: ``pipeline[type=RandomResize]`` (a pipeline step by its type, not its index).
_SELECT = re.compile(r"^\[(?P<key>[^=\]]+)=(?P<value>[^\]]*)\]$")
_PART = re.compile(r"[^.\[]+|\[[^\]]*\]")


def key_parts(dotted: str) -> list[str]:
    """A patch key's path elements: ``a.b.0.c`` -> ``[a, b, 0, c]``; a selector stays one
    element, dots and all: ``p[type=mmdet.Resize].scale`` -> ``[p, [type=mmdet.Resize], scale]``.
    """
    parts: list[str] = []
    pos = 0
    for m in _PART.finditer(dotted):
        if dotted[pos:m.start()] not in ("", "."):  # empty elements ("a..b"): as before
            return dotted.split(".")
        parts.append(m.group())
        pos = m.end()
    return parts if pos == len(dotted) else dotted.split(".")


def selected_value(part: str) -> str | None:
    """The value a selector element picks by (``[type=Resize]`` -> ``Resize``), or ``None``
    when ``part`` is a plain element."""
    m = _SELECT.match(part)
    return None if m is None else m["value"]


def _select(container: Any, part: str) -> int | None:
    """Index of the one mapping in ``container`` whose key matches the selector ``part``."""
    m = _SELECT.match(part)
    if m is None or not isinstance(container, list | tuple):
        return None
    hits = [i for i, item in enumerate(container)
            if isinstance(item, Mapping) and str(item.get(m["key"])) == m["value"]]
    return hits[0] if len(hits) == 1 else None


def _child(container: Any, part: str) -> tuple[bool, Any]:
    if (i := _select(container, part)) is not None:
        return True, container[i]
    if isinstance(container, Mapping):
        return (part in container, container.get(part))
    if isinstance(container, list | tuple) and part.lstrip("-").isdigit():
        i = int(part)
        return (-len(container) <= i < len(container), container[i] if
                -len(container) <= i < len(container) else None)
    return (False, None)


def _replace(container: Any, part: str, value: Any) -> Any:
    """A shallow copy of ``container`` with ``part`` set to ``value``."""
    if isinstance(container, Mapping):
        out = dict(container)
        out[part] = value
        return out
    seq = list(container)
    i = _select(container, part)
    seq[int(part) if i is None else i] = value
    return tuple(seq) if isinstance(container, tuple) else seq


def _merge(old: Any, new: Any, key: str, issues: list[PatchIssue]) -> Any:
    """``new`` applied onto ``old`` at ``key`` (type checks, dict merge)."""
    if isinstance(new, Mapping) and isinstance(old, Mapping) and not new.get("_delete_"):
        out = dict(old)
        for k, v in new.items():
            sub = f"{key}.{k}"
            if k.startswith("+"):
                k = k[1:]
                if k in out:
                    issues.append(PatchIssue(sub, f"{key}.{k} already exists; drop the '+'"))
                    continue
                out[k] = v
            elif k not in out:
                issues.append(PatchIssue(sub, f"no key {k!r} in {key}{_suggest(k, out)} "
                                              f"(prefix '+' to add a new key)"))
            else:
                out[k] = _merge(out[k], v, sub, issues)
        return out
    if isinstance(new, Mapping) and new.get("_delete_"):
        new = {k: v for k, v in new.items() if k != "_delete_"}
    ko, kn = _kind(old), _kind(new)
    if "none" not in (ko, kn) and ko != kn:
        issues.append(PatchIssue(key, f"type mismatch: the config has {old!r} ({ko}), the "
                                      f"patch gives {new!r} ({kn})"))
        return old
    return _coerce(old, new)


def apply_patch(tree: Tree, patch: Mapping[str, Any]) -> tuple[Tree, list[PatchIssue]]:
    """Apply ``patch`` to ``tree`` without mutating it.

    Keys are dotted paths; ``+key`` adds a missing key, ``?key`` is skipped (no issue) where
    the path does not exist.

    Returns:
        (new tree, issues). Keys with issues are left unchanged in the new tree.
    """
    issues: list[PatchIssue] = []
    for raw_key, value in patch.items():
        add = raw_key.startswith(ADD)
        where_present = raw_key.startswith(WHERE_PRESENT)
        parts = key_parts(patch_key_path(raw_key))
        # Walk down, remembering the chain of containers to rebuild on the way up.
        chain: list[Any] = [tree]
        ok = True
        for depth, part in enumerate(parts[:-1]):
            found, child = _child(chain[-1], part)
            if not found and where_present:
                ok = False
                break
            if not found or not isinstance(child, Mapping | list | tuple):
                where = ".".join(parts[:depth]) or "the config"
                hint = _suggest(part, chain[-1]) if isinstance(chain[-1], Mapping) else ""
                what = "is not a mapping or list" if found else "does not exist"
                issues.append(PatchIssue(raw_key, f"{'.'.join(parts[:depth + 1])} {what} "
                                                  f"(in {where}){hint}"))
                ok = False
                break
            chain.append(child)
        if not ok:
            continue
        last, parent = parts[-1], chain[-1]
        found, old = _child(parent, last)
        if add:
            if found:
                issues.append(PatchIssue(raw_key, f"{raw_key[1:]} already exists; drop the '+'"))
                continue
            if not isinstance(parent, Mapping):
                issues.append(PatchIssue(raw_key, "'+' adds keys to mappings only"))
                continue
            new = value
        elif not found and where_present:
            continue
        elif not found:
            hint = _suggest(last, parent) if isinstance(parent, Mapping) else ""
            issues.append(PatchIssue(raw_key, f"no key {raw_key!r} in the resolved config{hint}"
                                              " (prefix '+' to add a new key)"))
            continue
        else:
            n_before = len(issues)
            new = _merge(old, value, raw_key, issues)
            if len(issues) != n_before:
                continue
        node = new
        for part, container in zip(reversed(parts), reversed(chain), strict=True):
            node = _replace(container, part, node)
        tree = node
    return tree, issues


def get_path(tree: Any, dotted: str) -> tuple[bool, Any]:
    """``(found, value)`` at a dotted path."""
    node = tree
    for part in key_parts(patch_key_path(dotted)):
        found, node = _child(node, part)
        if not found:
            return False, None
    return True, node


def leaf_keys(patch: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted leaf keys a patch touches (dict values merge, so recurse into them)."""
    out: list[str] = []
    for k, v in patch.items():
        key = f"{prefix}{patch_key_path(k)}"
        if isinstance(v, Mapping) and v and not v.get("_delete_"):
            out.extend(leaf_keys(v, key + "."))
        else:
            out.append(key)
    return out


def diff(base: Tree, tree: Tree, keys: list[str]) -> list[tuple[str, Any, Any]]:
    """``(key, base value, new value)`` for each of ``keys`` whose value changed."""
    out = []
    for key in dict.fromkeys(keys):
        f0, v0 = get_path(base, key)
        f1, v1 = get_path(tree, key)
        if (f0, canonical(v0)) != (f1, canonical(v1)):
            out.append((key, v0 if f0 else "<absent>", v1 if f1 else "<absent>"))
    return out


# --------------------------------------------------------------------------- hashing

def _default(obj: Any) -> Any:
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return repr(obj)


def canonical(obj: Any) -> str:
    """Canonical JSON text: sorted keys, tuples as lists, no whitespace."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_default)


def config_hash(tree: Tree) -> str:
    """sha256 of the canonical config without :data:`VOLATILE_KEYS`."""
    body = {k: v for k, v in tree.items() if k not in VOLATILE_KEYS}
    return hashlib.sha256(canonical(body).encode()).hexdigest()


def dump_config(tree: Tree, path: Path) -> None:
    """Write ``tree`` as an mmengine ``.py`` config that loads back to the same data.

    Atomically: a kill while writing leaves the previous file or none, never half a config.
    """
    from mmengine.config import Config

    from ..atomic import write_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, Config(tree).pretty_text)
