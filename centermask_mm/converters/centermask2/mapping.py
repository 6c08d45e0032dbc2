"""The converter's one renaming engine: key tables as data, read in either direction.

A :class:`Rules` table lists ``(src, dst)`` key templates, e.g.
``('res{stage}.{i}.conv{j}.{p}', 'layer{stage}.{i}.conv{j}.{p}')``. Each ``{field}`` is
declared once per table: a regex (the same text on both sides), an :class:`Index` (a number
shifted or scaled on the way) or :class:`Names` (a word renamed on the way). A key takes the
first rule whose template it matches in full; the reverse direction (``dst`` -> ``src``)
reads the same table, so a mapping and its inverse cannot drift apart. A field repeated in
one template must repeat its text (``OSA{s}_{b}`` ... ``OSA{s}_{b}_{l}``).

:func:`rename_state` applies a renaming to a whole state dict; every backbone family, the
head mapping and the maskrcnn-benchmark scheme go through it.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from .registry import BackboneResult, ConversionError

#: A tensor change that goes with a rule: ``(source key, tensor) -> tensor``.
Transform = Callable[[str, Tensor], Tensor]


class Renamed(NamedTuple):
    """A key's new name and the tensor change its rule asks for (None: none)."""

    key: str
    transform: Transform | None = None


@dataclass(frozen=True)
class Index:
    """A numeric field that changes between the sides: ``src = dst * step + offset``.

    A ``src`` value off the step has no ``dst``: the rule does not apply and the next
    rule is tried (so one source sequence can feed several rules, e.g. conv, GN, ReLU).
    """

    offset: int = 0
    step: int = 1
    src: str = r'\d+'
    dst: str = r'\d+'

    def to_dst(self, text: str) -> str | None:
        value, rest = divmod(int(text) - self.offset, self.step)
        return str(value) if rest == 0 else None

    def to_src(self, text: str) -> str:
        return str(int(text) * self.step + self.offset)


@dataclass(frozen=True, eq=False)
class Names:
    """A word field renamed between the sides (``src`` word -> ``dst`` word, one to one)."""

    table: Mapping[str, str]

    def __post_init__(self) -> None:
        if len(set(self.table.values())) != len(self.table):
            raise ValueError(f'Names: the dst words of {dict(self.table)} are not unique')


Field = str | Index | Names


class _Side(NamedTuple):
    """One direction of a field: its regex on the side read and its text on the other."""

    regex: str
    convert: Callable[[str], str | None]


def _sides(spec: Field) -> tuple[_Side, _Side]:
    """(reading src, reading dst) for a field spec."""
    if isinstance(spec, str):
        return _Side(spec, str), _Side(spec, str)
    if isinstance(spec, Index):
        return _Side(spec.src, spec.to_dst), _Side(spec.dst, spec.to_src)
    back = {dst: src for src, dst in spec.table.items()}
    return (_Side('|'.join(map(re.escape, spec.table)), spec.table.get),
            _Side('|'.join(map(re.escape, back)), back.get))


_FIELD = re.compile(r'\{(\w+)\}')


def _compile(template: str, sides: Mapping[str, _Side]) -> re.Pattern[str]:
    """The regex that matches ``template``'s keys, one named group per field."""
    parts, seen, end = [], set(), 0
    for m in _FIELD.finditer(template):
        name = m[1]
        if name not in sides:
            raise ValueError(f'key template {template!r}: field {name!r} is not declared')
        parts.append(re.escape(template[end:m.start()]))
        parts.append(f'(?P={name})' if name in seen else f'(?P<{name}>{sides[name].regex})')
        seen.add(name)
        end = m.end()
    parts.append(re.escape(template[end:]))
    return re.compile(''.join(parts))


@dataclass(frozen=True)
class Rule:
    """One row of a :class:`Rules` table.

    Attributes:
        src: Key template on the source side.
        dst: Key template on the target side.
        transform: Tensor change on the way ``src`` -> ``dst``.
        inverse: Tensor change on the way back.
        reversible: False for a second source spelling of a ``dst`` that another rule
            already names (the reverse direction skips it).
    """

    src: str
    dst: str
    transform: Transform | None = None
    inverse: Transform | None = None
    reversible: bool = True


class _Compiled(NamedTuple):
    pattern: re.Pattern[str]
    template: str
    transform: Transform | None
    readback: re.Pattern[str] | None  # what the result must match (reverse only)


class Rules:
    """An ordered table of key templates with its field declarations (see module doc).

    Args:
        fields: Field name -> regex, :class:`Index` or :class:`Names`.
        rules: :class:`Rule` rows, or plain ``(src, dst)`` pairs.

    Raises:
        ValueError: If a template uses an undeclared field.
    """

    def __init__(self, fields: Mapping[str, Field], rules: Iterable[Rule | tuple[str, str]]):
        forward, backward = {}, {}
        for name, spec in fields.items():
            forward[name], backward[name] = _sides(spec)
        self.rules = [r if isinstance(r, Rule) else Rule(*r) for r in rules]
        self._sides = (forward, backward)
        self._tables: tuple[list[_Compiled], list[_Compiled]] = ([], [])
        for rule in self.rules:
            src = _compile(rule.src, forward)
            self._tables[0].append(_Compiled(src, rule.dst, rule.transform, None))
            if rule.reversible:
                self._tables[1].append(
                    _Compiled(_compile(rule.dst, backward), rule.src, rule.inverse, src))

    def rename(self, key: str, reverse: bool = False) -> Renamed | None:
        """``key``'s name on the other side (``dst`` -> ``src`` with ``reverse``), or None.

        Read backwards, a rule applies only when its result reads forwards through the same
        rule, so a ``dst`` two rules can make goes to the first whose ``src`` fields accept it.
        """
        sides = self._sides[reverse]
        for pattern, template, transform, readback in self._tables[reverse]:
            match = pattern.fullmatch(key)
            if match is None:
                continue
            values = {name: sides[name].convert(text) for name, text in match.groupdict().items()}
            if None in values.values():
                continue
            new = template.format(**values)
            if readback is None or readback.fullmatch(new):
                return Renamed(new, transform)
        return None

    def new_key(self, key: str, reverse: bool = False) -> str | None:
        """The key alone of :meth:`rename`."""
        renamed = self.rename(key, reverse)
        return None if renamed is None else renamed.key


def to_tensor(value: Any, key: str) -> Tensor:
    """A torch tensor of ``value`` (tensor or numpy array); other types are an error."""
    if isinstance(value, Tensor):
        return value.detach().clone()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    raise ConversionError(f'key {key!r} holds a {type(value).__name__}, not a tensor')


def rename_state(source: Mapping[str, Any], rename: Callable[[str], Renamed | None],
                 state: dict[str, Tensor], key_map: dict[str, str],
                 tensor: Callable[[Any, str], Tensor] = to_tensor) -> list[str]:
    """Add every tensor of ``source`` that ``rename`` names to ``state``, in source order.

    Args:
        source: Source key -> tensor (or array, as ``tensor`` accepts).
        rename: Source key -> :class:`Renamed`, or None for a key no rule maps.
        state: Filled in place: new key -> ``transform(key, tensor(value, key))``.
        key_map: Filled in place: source key -> new key.
        tensor: Turns a source value into the tensor stored (default :func:`to_tensor`).

    Returns:
        The source keys ``rename`` has no name for, in source order.

    Raises:
        ConversionError: If a new key is already in ``state``.
    """
    unknown = []
    for key, value in source.items():
        renamed = rename(key)
        if renamed is None:
            unknown.append(key)
            continue
        new, transform = renamed
        if new in state:
            raise ConversionError(f'two source keys map to {new!r}; the second is {key!r}')
        converted = tensor(value, key)
        state[new] = converted if transform is None else transform(key, converted)
        key_map[key] = new
    return unknown


def add_bn_counters(state: dict[str, Tensor]) -> None:
    """Add ``num_batches_tracked`` (0) beside every ``running_mean`` that lacks one.

    detectron2's FrozenBN has no counter; ``nn.BatchNorm2d`` has one and a strict load
    expects it.
    """
    for key in list(state):
        if key.endswith('.running_mean'):
            counter = key[:-len('running_mean')] + 'num_batches_tracked'
            state.setdefault(counter, torch.tensor(0, dtype=torch.long))


def rename_backbone(source: Mapping[str, Any],
                    rename: Callable[[str], Renamed | None]) -> BackboneResult:
    """A backbone family's renaming of ``source``: unknown keys listed, BN counters added."""
    result = BackboneResult()
    result.unknown = rename_state(source, rename, result.state_dict, result.key_map)
    add_bn_counters(result.state_dict)
    return result
