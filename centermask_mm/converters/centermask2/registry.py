"""Plug-in points of the centermask2 converter: backbone families and source key schemes.

A *backbone family* (VoVNet, ResNet, MobileNetV2, ...) says whether a set of bottom-up keys
is its own (``detect``) and renames them to the project's backbone module names
(``convert``). A *source scheme* (e.g. maskrcnn-benchmark) renames a whole checkpoint to
centermask2's detectron2 names before anything else runs. The protocol is written up in
``docs/centermask.md`` ("Published models").
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn


class ConversionError(ValueError):
    """Raised when a checkpoint cannot be converted; the message names the keys."""


@dataclass
class BackboneResult:
    """What a backbone family's ``convert`` returns.

    Attributes:
        state_dict: Converted tensors keyed by the project's backbone names (no
            ``backbone.`` prefix).
        key_map: Source key -> our key, for every converted source key.
        unknown: Source keys that match no rule (the caller raises, naming them).
        skipped: Source keys deliberately not converted (e.g. detector keys outside the
            backbone when a backbone-only conversion is asked for).
        info: Inferred constructor arguments (``arch``, ``depth``, ...) for ``meta`` and
            messages.
    """

    state_dict: dict[str, Tensor] = field(default_factory=dict)
    key_map: dict[str, str] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BackboneFamily:
    """A registered backbone family.

    Attributes:
        name: Family name (``'vovnet'``, ``'resnet'``, ``'mobilenetv2'``).
        detect: ``keys -> bool``; keys are bottom-up keys (``backbone.bottom_up.``
            stripped) or an ImageNet backbone file's keys.
        convert: ``source -> BackboneResult`` on the same keys.
        build: Optional ``info -> nn.Module`` building the backbone the weights describe
            (on any device, ``meta`` included), used to check a backbone-only conversion.
    """

    name: str
    detect: Callable[[frozenset[str]], bool]
    convert: Callable[[Mapping[str, Any]], BackboneResult]
    build: Callable[[Mapping[str, Any]], nn.Module] | None = None


@dataclass(frozen=True)
class SourceScheme:
    """A registered source key scheme (a checkpoint not in detectron2 names).

    Attributes:
        name: Scheme name (e.g. ``'maskrcnn_benchmark'``).
        detect: ``keys -> bool`` on the checkpoint's raw keys.
        adapt: ``source -> source`` in centermask2 (detectron2) names; keys it cannot rename
            are returned unchanged, so they are reported as unknown.
    """

    name: str
    detect: Callable[[frozenset[str]], bool]
    adapt: Callable[[dict[str, Tensor]], dict[str, Tensor]]


BACKBONES: dict[str, BackboneFamily] = {}
SCHEMES: dict[str, SourceScheme] = {}


def register_backbone(name: str, detect: Callable[[frozenset[str]], bool],
                      convert: Callable[[Mapping[str, Any]], BackboneResult],
                      build: Callable[[Mapping[str, Any]], nn.Module] | None = None) -> None:
    """Register a backbone family under ``name`` (a second registration is an error)."""
    if name in BACKBONES:
        raise ValueError(f'backbone family {name!r} is already registered')
    BACKBONES[name] = BackboneFamily(name, detect, convert, build)


def register_scheme(name: str, detect: Callable[[frozenset[str]], bool],
                    adapt: Callable[[dict[str, Tensor]], dict[str, Tensor]]) -> None:
    """Register a source key scheme under ``name`` (a second registration is an error)."""
    if name in SCHEMES:
        raise ValueError(f'source scheme {name!r} is already registered')
    SCHEMES[name] = SourceScheme(name, detect, adapt)


def _sample(keys: frozenset[str], n: int = 5) -> str:
    shown = sorted(keys)[:n]
    return ', '.join(shown) + (f', ... ({len(keys)} keys)' if len(keys) > n else '')


def detect_backbone(keys: frozenset[str]) -> BackboneFamily:
    """The one backbone family that claims ``keys``.

    Raises:
        ConversionError: If no family or more than one claims them.
    """
    claims = [fam for fam in BACKBONES.values() if fam.detect(keys)]
    if len(claims) == 1:
        return claims[0]
    if not claims:
        raise ConversionError(
            f'no backbone family ({", ".join(sorted(BACKBONES)) or "none registered"}) '
            f'recognises the backbone keys: {_sample(keys)}')
    raise ConversionError(
        f'backbone families {[f.name for f in claims]} all claim the backbone keys '
        f'{_sample(keys)}')


def detect_scheme(keys: frozenset[str]) -> SourceScheme | None:
    """The one source scheme that claims ``keys``, or None (detectron2 names).

    Raises:
        ConversionError: If more than one scheme claims them.
    """
    claims = [s for s in SCHEMES.values() if s.detect(keys)]
    if len(claims) > 1:
        raise ConversionError(
            f'source schemes {[s.name for s in claims]} all claim the checkpoint keys '
            f'{_sample(keys)}')
    return claims[0] if claims else None
