"""Reading a study file's YAML safely, with the line of every key.

A study file (and a shared profile file) is data a person types: it is read as UTF-8 of
bounded size (:func:`read_study_text`) and parsed with a safe loader that keeps each key's
line, refuses duplicate keys, non-plain tags and merge keys, and stops alias bombs and deep
nesting (:func:`load_yaml`). Each refusal is a :class:`~orchestrator.study.errors.Problem`
with file and line, never a traceback.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from .errors import Problem, StudyError
from .model import Path_


class StudyLoader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-4`` as a float (YAML 1.1 wants ``1.0e-4``)."""


StudyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))

#: Limits of a study file (data a person types, far below these): bytes, values after
#: expanding YAML aliases (a "billion laughs" stops here, not in swap), nesting depth.
MAX_STUDY_BYTES = 1 << 20
MAX_YAML_VALUES = 200_000
MAX_YAML_DEPTH = 64
#: Tags a study file may carry: YAML's plain data. ``!!python/...``, ``!!set``, local tags
#: (``!foo``) and merge keys (``<<``) are rejected with their line, never dropped.
_PLAIN_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in (
    "map", "seq", "str", "int", "float", "bool", "null", "timestamp"))


class _TooBig(Exception):
    """The document expands beyond :data:`MAX_YAML_VALUES` or :data:`MAX_YAML_DEPTH`."""


def read_study_text(path: Path) -> str:
    """The text of a study file: at most :data:`MAX_STUDY_BYTES`, UTF-8.

    Raises:
        StudyError: Unreadable, too large, or not UTF-8 (naming the line of the bad byte).
    """
    try:
        size = path.stat().st_size
        if size > MAX_STUDY_BYTES:
            raise StudyError([Problem(str(path), 0, "", (
                f"{size:,} bytes; a study file is at most {MAX_STUDY_BYTES:,} bytes"))])
        data = path.read_bytes()
    except OSError as exc:
        raise StudyError([Problem(str(path), 0, "", f"cannot read: {exc.strerror}")]) from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise StudyError([Problem(str(path), line, "", (
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} at line {line}, column {col}; "
            "save the file as UTF-8"))]) from None


def load_yaml(text: str, file: str) -> tuple[Any, dict[Path_, int], list[Problem]]:
    """Parse YAML keeping the line of every key; duplicate keys are problems, not overwrites.

    Bounded: plain-data tags only, at most :data:`MAX_YAML_VALUES` values after alias
    expansion and :data:`MAX_YAML_DEPTH` levels of nesting (each a problem, not a hang).

    Returns:
        (data, lines, problems): ``lines`` maps a key path to its 1-based line.
    """
    loader = StudyLoader(text)
    lines: dict[Path_, int] = {}
    problems: list[Problem] = []
    count = 0
    try:
        node = loader.get_single_node()

        def walk(node: yaml.Node, path: Path_) -> Any:
            nonlocal count
            count += 1
            if count > MAX_YAML_VALUES:
                raise _TooBig(f"more than {MAX_YAML_VALUES:,} values once YAML aliases "
                              "(*name) are expanded; a study file is small plain data")
            if len(path) > MAX_YAML_DEPTH:
                raise _TooBig(f"nested deeper than {MAX_YAML_DEPTH} levels")
            lines.setdefault(path, node.start_mark.line + 1)
            if node.tag not in _PLAIN_TAGS:
                problems.append(Problem(file, node.start_mark.line + 1, ".".join(map(
                    str, path)), f"YAML tag {node.tag!r} is not allowed: a study file holds "
                    "plain data (mappings, lists, strings, numbers, booleans, null)"))
                return None
            if isinstance(node, yaml.MappingNode):
                out: dict[Any, Any] = {}
                for k_node, v_node in node.value:
                    if not isinstance(k_node, yaml.ScalarNode) or k_node.tag not in _PLAIN_TAGS:
                        what = ("merge keys (<<) are not supported"
                                if k_node.tag.endswith(":merge") else
                                f"keys must be plain scalars (got tag {k_node.tag!r})")
                        problems.append(Problem(file, k_node.start_mark.line + 1,
                                                ".".join(map(str, path)), what))
                        continue
                    key = loader.construct_object(k_node, deep=True)
                    if not isinstance(key, str | int | float | bool) and key is not None:
                        problems.append(Problem(file, k_node.start_mark.line + 1,
                                                ".".join(map(str, path)),
                                                "keys must be plain scalars"))
                        continue
                    if key in out:
                        problems.append(Problem(
                            file, k_node.start_mark.line + 1, ".".join(map(str, (*path, key))),
                            f"duplicate key (first at line {lines[(*path, key)]})"))
                        continue
                    at = k_node.start_mark.index
                    if isinstance(key, str) and at > 0 and text[at - 1] == "?":
                        # Inside {...}, YAML takes '?key' as its explicit-key indicator and
                        # drops the '?' the patch syntax needs.
                        problems.append(Problem(
                            file, k_node.start_mark.line + 1, ".".join(map(str, (*path, key))),
                            f"YAML dropped the '?' of '?{key}' (its explicit-key indicator "
                            f"inside {{...}}): quote it, \"?{key}\", or use block style"))
                    lines[(*path, key)] = k_node.start_mark.line + 1
                    out[key] = walk(v_node, (*path, key))
                return out
            if isinstance(node, yaml.SequenceNode):
                return [walk(v, (*path, i)) for i, v in enumerate(node.value)]
            return loader.construct_object(node, deep=True)

        data = walk(node, ()) if node is not None else None
    except _TooBig as exc:
        problems.append(Problem(file, 0, "", str(exc)))
        data = None
    except RecursionError:
        problems.append(Problem(file, 0, "", f"nested deeper than {MAX_YAML_DEPTH} levels"))
        data = None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        problems.append(Problem(file, line, "", f"not valid YAML: {exc}"))
        data = None
    finally:
        loader.dispose()
    return data, lines, problems
