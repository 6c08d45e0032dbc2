"""Whole-model conversion of centermask2 (detectron2) checkpoints to this project's names.

A centermask2 checkpoint holds ``backbone.bottom_up.*`` (handed to the backbone family that
claims it, see :mod:`.registry`), the FPN (``backbone.fpn_lateral{l}``,
``backbone.fpn_output{l}``, ``backbone.top_block.p6/p7``), the FCOS head
(``proposal_generator.fcos_head.*``), the SAG-Mask head (``roi_heads.mask_head.*``) and the
MaskIoU head (``roi_heads.maskiou_head.*``). Two tensors change on the way, not only their
names: the SAM conv's two input channels are swapped (centermask2 concatenates
``[mean, max]``, :class:`SpatialAttention` ``[max, mean]``) and the FCOS ``Scale`` parameters
go from shape ``[1]`` to 0-d (mmcv's ``Scale``). Floating-point tensors are cast to float32.
"""
from __future__ import annotations

import functools
import hashlib
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .mapping import Index, Names, Renamed, Rule, Rules, rename_state, to_tensor
from .registry import BACKBONES, ConversionError, detect_backbone, detect_scheme

BOTTOM_UP = 'backbone.bottom_up.'
#: detectron2 buffers that are preprocessing constants, not weights (recorded in ``meta``).
PREPROCESSING_KEYS = ('pixel_mean', 'pixel_std')
_DETECTOR_PREFIXES = ('backbone.', 'proposal_generator.', 'roi_heads.')


def _swap_sam_channels(key: str, t: Tensor) -> Tensor:
    """centermask2's SAM input is [mean, max], ours [max, mean]: swap weight dim 1."""
    if t.dim() != 4 or t.shape[1] != 2:
        raise ConversionError(f'{key}: expected shape (1, 2, k, k), got {tuple(t.shape)}')
    return t.flip(1).contiguous()


def _scale_to_0d(key: str, t: Tensor) -> Tensor:
    """FCOS ``Scale``: detectron2 stores shape [1], mmcv's ``Scale`` a 0-d parameter."""
    if t.numel() != 1:
        raise ConversionError(f'FCOS scale: expected one value, got shape {tuple(t.shape)}')
    return t.reshape(())


_FCOS = 'proposal_generator.fcos_head.'
_MASK = 'roi_heads.mask_head.'
_IOU = 'roi_heads.maskiou_head.'


@functools.cache
def _head_rules(first: int, n_lateral: int) -> Rules:
    """centermask2 head keys -> ours, for FPN laterals at levels ``first`` .. (``n_lateral``
    of them; P6 / P7 follow them in ``neck.fpn_convs``, hence top_block before fpn_output:
    read backwards, ``fpn_convs.{n_lateral}`` is P6)."""
    return Rules(
        dict(p='weight|bias', n=r'\d+', i=Index(1),
             level=Index(first, src=r'\d'), top=Index(6 - n_lateral, src='[67]'),
             # FCOS towers are Sequential(conv, GN, ReLU) * n: index 3i is conv i, 3i+1 its GN.
             conv=Index(0, step=3), gn=Index(1, step=3),
             tower=Names({'cls': 'cls', 'bbox': 'reg'})),
        [('backbone.fpn_lateral{level}.{p}', 'neck.lateral_convs.{level}.conv.{p}'),
         ('backbone.top_block.p{top}.{p}', 'neck.fpn_convs.{top}.conv.{p}'),
         ('backbone.fpn_output{level}.{p}', 'neck.fpn_convs.{level}.conv.{p}'),
         (_FCOS + '{tower}_tower.{conv}.{p}', 'bbox_head.{tower}_convs.{conv}.conv.{p}'),
         (_FCOS + '{tower}_tower.{gn}.{p}', 'bbox_head.{tower}_convs.{gn}.gn.{p}'),
         (_FCOS + 'cls_logits.{p}', 'bbox_head.conv_cls.{p}'),
         (_FCOS + 'bbox_pred.{p}', 'bbox_head.conv_reg.{p}'),
         (_FCOS + 'ctrness.{p}', 'bbox_head.conv_centerness.{p}'),
         Rule(_FCOS + 'scales.{n}.scale', 'bbox_head.scales.{n}.scale', _scale_to_0d),
         (_MASK + 'mask_fcn{i}.{p}', 'roi_head.mask_head.convs.{i}.conv.{p}'),
         Rule(_MASK + 'spatialAtt.conv.weight', 'roi_head.mask_head.sam.conv.weight',
              _swap_sam_channels),
         (_MASK + 'deconv.{p}', 'roi_head.mask_head.upsample.{p}'),
         (_MASK + 'predictor.{p}', 'roi_head.mask_head.conv_logits.{p}'),
         (_IOU + 'maskiou_fcn{i}.{p}', 'roi_head.mask_iou_head.convs.{i}.{p}'),
         (_IOU + 'maskiou_fc{i}.{p}', 'roi_head.mask_iou_head.fcs.{i}.{p}'),
         (_IOU + 'maskiou.{p}', 'roi_head.mask_iou_head.fc_mask_iou.{p}')])


@dataclass
class Conversion:
    """Outcome of :func:`convert_checkpoint`.

    Attributes:
        state_dict: Converted tensors keyed by the project's module names (whole model:
            ``backbone.``, ``neck.``, ``bbox_head.``, ``roi_head.``; backbone only: no prefix).
        key_map: Source key (after the scheme's renaming) -> our key.
        family: Backbone family name.
        scheme: Source scheme name (``'detectron2'`` when no scheme was needed).
        backbone_info: The family's inferred constructor arguments.
        preprocessing: ``pixel_mean`` / ``pixel_std`` found in the checkpoint, as lists.
        skipped: Source keys deliberately left out (non-backbone keys with
            ``backbone_only``, unknown keys with ``ignore_unknown``).
        whole_model: True for a detector checkpoint converted whole (keys prefixed by the
            detector's module names), False for a backbone conversion (no prefix).
    """

    state_dict: dict[str, Tensor] = field(default_factory=dict)
    key_map: dict[str, str] = field(default_factory=dict)
    family: str = ''
    scheme: str = 'detectron2'
    backbone_info: dict[str, Any] = field(default_factory=dict)
    preprocessing: dict[str, list[float]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    whole_model: bool = False


def read_checkpoint(path: str | Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Read a ``.pth`` or detectron2 ``.pkl`` checkpoint.

    Returns:
        (state, extras): ``state`` maps keys to tensors (numpy arrays converted, dtype
        kept); ``extras`` holds the file's other top-level entries (``__author__``,
        ``matching_heuristics``, ``iteration``, ...).

    Raises:
        ConversionError: If the file is missing, unreadable or holds no state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f'{path}: no such file')
    if path.suffix == '.pkl':
        with path.open('rb') as f:
            obj = pickle.load(f, encoding='latin1')
    else:
        try:
            obj = torch.load(path, map_location='cpu', weights_only=True)
        except pickle.UnpicklingError as err:
            raise ConversionError(
                f'{path}: not loadable with torch.load(weights_only=True) ({err}); '
                'resave it as a plain state dict') from err
    extras: dict[str, Any] = {}
    for wrapper in ('model', 'state_dict'):
        if isinstance(obj, Mapping) and isinstance(obj.get(wrapper), Mapping):
            extras = {k: v for k, v in obj.items() if k != wrapper}
            obj = obj[wrapper]
            break
    if not isinstance(obj, Mapping) or not obj:
        raise ConversionError(f'{path}: expected a (possibly wrapped) state dict')
    return {str(k): to_tensor(v, f'{path}:{k}') for k, v in obj.items()}, extras


def load_source(path: str | Path) -> dict[str, Tensor]:
    """The state dict of :func:`read_checkpoint` alone."""
    return read_checkpoint(path)[0]


def is_detector_checkpoint(keys: frozenset[str]) -> bool:
    """True for a whole detectron2 detector (keys under ``backbone.``, heads, ...)."""
    return any(k.startswith(_DETECTOR_PREFIXES) for k in keys)


def _fpn_offsets(keys: frozenset[str]) -> dict[str, int]:
    levels = sorted({int(m['l']) for k in keys
                     if (m := re.fullmatch(r'backbone\.fpn_lateral(?P<l>\d)\.weight', k))})
    return dict(first=levels[0] if levels else 0, n_lateral=len(levels))


def map_head_key(key: str, offsets: Mapping[str, int]) -> Renamed | None:
    """Our name (and tensor transform) for one non-backbone centermask2 key, or None.

    ``offsets``: ``first`` and ``n_lateral`` of :func:`_fpn_offsets`.
    """
    return _head_rules(offsets['first'], offsets['n_lateral']).rename(key)


def _float32(t: Tensor) -> Tensor:
    return t.float() if t.is_floating_point() else t


def convert_checkpoint(source: Mapping[str, Tensor], backbone_only: bool = False,
                       ignore_unknown: bool = False) -> Conversion:
    """Convert a whole centermask2 checkpoint (or a backbone) to the project's names.

    Args:
        source: Checkpoint tensors in detectron2 names or in a registered scheme's names.
        backbone_only: Convert only ``backbone.bottom_up.*`` of a detector checkpoint and
            skip the rest (listed in ``skipped``). A backbone file (ImageNet weights, no
            detector prefixes) is always converted as a backbone.
        ignore_unknown: List keys that match no rule in ``skipped`` instead of failing
            (e.g. an ImageNet classifier); a strict model check still catches what is
            missing.

    Returns:
        Conversion: Every source key mapped; floating tensors as float32.

    Raises:
        ConversionError: Naming every key that could not be mapped, or when two keys map
            to the same name.
    """
    out = Conversion()
    state = dict(source)
    scheme = detect_scheme(frozenset(state))
    if scheme is not None:
        state = scheme.adapt(state)
        out.scheme = scheme.name
    for key in PREPROCESSING_KEYS:
        if key in state:
            out.preprocessing[key] = [float(v) for v in state.pop(key).flatten()]
    keys = frozenset(state)
    detector = is_detector_checkpoint(keys)
    if detector:
        bottom_up = {k[len(BOTTOM_UP):]: v for k, v in state.items() if k.startswith(BOTTOM_UP)}
        rest = {k: v for k, v in state.items() if not k.startswith(BOTTOM_UP)}
        if not bottom_up:
            raise ConversionError('the checkpoint has detector keys but no backbone keys '
                                  f'(nothing starts with {BOTTOM_UP!r})')
    else:
        bottom_up, rest = state, {}
    family = detect_backbone(frozenset(bottom_up))
    result = family.convert(bottom_up)
    out.family, out.backbone_info = family.name, dict(result.info)
    unknown = [(BOTTOM_UP if detector else '') + k for k in result.unknown + result.skipped]
    out.whole_model = detector and not backbone_only
    prefix = 'backbone.' if out.whole_model else ''
    for src, ours in result.key_map.items():
        out.key_map[(BOTTOM_UP if detector else '') + src] = prefix + ours
    out.state_dict = {prefix + k: _float32(v) for k, v in result.state_dict.items()}
    if backbone_only:
        out.skipped = sorted(rest)
        rest = {}
    offsets = _fpn_offsets(frozenset(rest))
    unknown += rename_state(rest, _head_rules(**offsets).rename, out.state_dict, out.key_map,
                            tensor=lambda value, key: _float32(value))
    if unknown and ignore_unknown:
        out.skipped = sorted(out.skipped + unknown)
    elif unknown:
        raise ConversionError(
            f'{len(unknown)} key(s) of the {family.name} checkpoint cannot be mapped: '
            + ', '.join(sorted(unknown)))
    return out


def check_against_model(state_dict: Mapping[str, Tensor], model: nn.Module) -> None:
    """Check that ``state_dict`` fits ``model`` exactly (keys and shapes).

    Raises:
        ConversionError: Listing missing keys, unexpected keys and shape mismatches.
    """
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    mismatched = sorted(
        f'{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(expected[k].shape)}'
        for k in set(expected) & set(state_dict) if state_dict[k].shape != expected[k].shape)
    problems = [f'{title} ({len(keys)}): {", ".join(keys)}'
                for title, keys in (('missing keys', missing), ('unexpected keys', unexpected),
                                    ('shape mismatches', mismatched)) if keys]
    if problems:
        raise ConversionError('converted weights do not fit the model; ' + '; '.join(problems))


def build_detector(config: str | Path, device: str = 'meta') -> tuple[nn.Module, Any]:
    """Build the detector of a project config (no weight init, no pretrained loading).

    Returns:
        (model, cfg): the model on ``device`` (``'meta'``: shapes only) and the config.
    """
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config

    import centermask_mm  # noqa: F401  (registers the project's components)

    register_all_modules()
    cfg = Config.fromfile(str(config))
    with torch.device(device):
        model = MODELS.build(cfg.model)
    return model, cfg


def _check_preprocessing(found: Mapping[str, list[float]], cfg: Any, config: str) -> None:
    """The checkpoint's pixel mean/std (if any) must be the config's normalisation."""
    pre = cfg.model.get('data_preprocessor', {}) or {}
    for key, cfg_key in (('pixel_mean', 'mean'), ('pixel_std', 'std')):
        if key in found and pre.get(cfg_key) is not None:
            want = [float(v) for v in pre[cfg_key]]
            if not np.allclose(found[key], want, rtol=0, atol=1e-3):
                raise ConversionError(
                    f'the checkpoint was trained with {key}={found[key]} but {config} '
                    f'normalises with model.data_preprocessor.{cfg_key}={want}')


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with Path(path).open('rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def convert_file(src: str | Path, dst: str | Path, config: str | Path | None = None,
                 backbone_only: bool = False, prefix: str = '',
                 ignore_unknown: bool = False) -> dict[str, Any]:
    """Convert ``src`` and save ``{'state_dict', 'meta'}`` to ``dst``; return ``meta``.

    Args:
        src: centermask2 / detectron2 checkpoint (``.pth`` or ``.pkl``).
        dst: Output path (nothing is written when conversion fails).
        config: Project config of the matching model; when given, the converted state dict
            must fit the model it builds exactly (and the checkpoint's ``pixel_mean`` /
            ``pixel_std``, if stored, its ``data_preprocessor``).
        backbone_only: Convert only the backbone (see :func:`convert_checkpoint`); the
            result is checked against the backbone the family's ``build`` makes.
        prefix: Prepended to every output key (e.g. ``'backbone.'`` for a backbone file
            loaded into a whole detector).
        ignore_unknown: See :func:`convert_checkpoint`; the dropped keys are listed in
            ``meta['skipped_keys']``.

    Raises:
        ConversionError: Naming unmapped, missing, unexpected or mis-shaped keys.
    """
    state, extras = read_checkpoint(src)
    conv = convert_checkpoint(state, backbone_only=backbone_only, ignore_unknown=ignore_unknown)
    whole = conv.whole_model
    if config is not None:
        model, cfg = build_detector(config)
        target = model if whole else model.get_submodule('backbone')
        check_against_model(conv.state_dict, target)
        _check_preprocessing(conv.preprocessing, cfg, str(config))
    elif not whole:
        build = BACKBONES[conv.family].build
        if build is not None:
            with torch.device('meta'):  # keys and shapes only: no allocation, no init
                check_against_model(conv.state_dict, build(conv.backbone_info))
    meta = dict(
        converter='centermask_mm.converters.centermask2', source=str(src),
        source_sha256=sha256(src), scheme=conv.scheme, family=conv.family,
        backbone=conv.backbone_info, whole_model=whole, config=None if config is None
        else str(config), converted=len(conv.key_map), skipped=len(conv.skipped),
        skipped_keys=conv.skipped,
        preprocessing=conv.preprocessing,
        source_extras={k: v for k, v in extras.items() if isinstance(v, str | int | float | bool)})
    state_dict = {prefix + k: v for k, v in conv.state_dict.items()}
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    torch.save(dict(state_dict=state_dict, meta=meta), dst)
    return meta
