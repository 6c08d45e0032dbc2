"""Convert centermask2 / vovnet-detectron2 VoVNet weights into :class:`VoVNet` weights.

Accepted inputs: the detectron2 ImageNet backbone files (``vovnet39_ese_detectron2.pth``
and friends, keys such as ``stage2.OSA2_1.layers.0.OSA2_1_0/conv.weight``) and full
centermask2 / vovnet-detectron2 detector checkpoints, whose backbone keys carry the
prefix ``backbone.bottom_up.`` (other keys are skipped and counted). ``.pth`` (torch)
and ``.pkl`` (detectron2 pickle of numpy arrays) files both work.

The architecture is inferred from the weights and checked against a freshly built
``VoVNet``: every key must map, every shape must match, and nothing may be missing.

Usage::

    python -m centermask_mm.converters.vovnet_detectron2 IN OUT [--prefix backbone.]

The output is ``{'state_dict': ..., 'meta': {...}}``, loadable with
``init_cfg=dict(type='Pretrained', checkpoint=OUT)`` on the backbone (or, with
``--prefix backbone.``, by a whole detector).
"""
from __future__ import annotations

import argparse
import pickle
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

DETECTRON2_PREFIX = 'backbone.bottom_up.'

# detectron2 unit part name -> our sub-module path inside the unit (an mmcv ConvModule
# or DepthwiseSeparableConvModule). FrozenBN ("norm") becomes ConvModule's "bn".
_PARTS = {
    'conv': 'conv',
    'norm': 'bn',
    'dw_conv3x3': 'depthwise_conv.conv',
    'pw_conv1x1': 'pointwise_conv.conv',
    'pw_norm': 'pointwise_conv.bn',
    'conv_offset': 'conv.conv_offset',  # DCN offset/mask conv lives inside our DCN conv
}
_PART = '(?P<part>conv|norm|dw_conv3x3|pw_conv1x1|pw_norm|conv_offset)'
_PARAM = r'(?P<param>weight|bias|running_mean|running_var|num_batches_tracked)'
_OSA = r'stage(?P<s>[2-5])\.OSA(?P=s)_(?P<b>\d+)'

# (pattern on detectron2 keys, template of our key); templates use the named groups.
_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf'stem\.stem_(?P<u>[123])/{_PART}\.{_PARAM}'), 'stem.{u0}.{part}.{param}'),
    (re.compile(rf'{_OSA}\.layers\.(?P<l>\d+)\.OSA(?P=s)_(?P=b)_(?P=l)/{_PART}\.{_PARAM}'),
     'stage{s}.osa{b}.layers.{l}.{part}.{param}'),
    (re.compile(rf'{_OSA}\.conv_reduction\.OSA(?P=s)_(?P=b)_reduction_0/{_PART}\.{_PARAM}'),
     'stage{s}.osa{b}.reduction.{part}.{param}'),
    (re.compile(rf'{_OSA}\.concat\.OSA(?P=s)_(?P=b)_concat/{_PART}\.{_PARAM}'),
     'stage{s}.osa{b}.concat.{part}.{param}'),
    (re.compile(rf'{_OSA}\.ese\.fc\.(?P<param>weight|bias)'), 'stage{s}.osa{b}.attn.fc.{param}'),
]


class ConversionError(ValueError):
    """Raised when a checkpoint cannot be converted; the message names the keys."""


@dataclass
class ConversionResult:
    """Outcome of :func:`convert_state_dict`.

    Attributes:
        state_dict: Converted tensors, keyed by our module names.
        key_map: detectron2 key -> our key, for every converted key.
        unknown: detectron2 backbone keys that match no rule.
        skipped: Non-backbone keys of a detector checkpoint (FPN, heads), not converted.
    """

    state_dict: dict[str, Tensor] = field(default_factory=dict)
    key_map: dict[str, str] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def map_key(key: str) -> str | None:
    """Map one detectron2 backbone key (prefix already stripped) to ours, or None."""
    for pattern, template in _RULES:
        match = pattern.fullmatch(key)
        if match is None:
            continue
        groups = match.groupdict()
        if 'part' in groups:
            groups['part'] = _PARTS[groups['part']]
        if 'u' in groups:
            groups['u0'] = str(int(groups['u']) - 1)
        return template.format(**groups)
    return None


def convert_state_dict(source: Mapping[str, Any]) -> ConversionResult:
    """Rename a detectron2 VoVNet state dict to :class:`VoVNet` names.

    Args:
        source: detectron2 tensors (torch or numpy), either backbone-only keys or a
            whole detector's keys with the ``backbone.bottom_up.`` prefix.

    Returns:
        ConversionResult: Converted state dict plus unknown and skipped keys. A
        ``num_batches_tracked`` (0) is added for every BN, since detectron2's FrozenBN
        has none and ``load_state_dict(strict=True)`` expects it.
    """
    result = ConversionResult()
    if any(k.startswith(DETECTRON2_PREFIX) for k in source):
        backbone = {}
        for key, value in source.items():
            if key.startswith(DETECTRON2_PREFIX):
                backbone[key[len(DETECTRON2_PREFIX):]] = value
            else:
                result.skipped.append(key)
    else:
        backbone = dict(source)
    for key, value in backbone.items():
        new_key = map_key(key)
        if new_key is None:
            result.unknown.append(key)
            continue
        if new_key in result.state_dict:
            raise ConversionError(f'two source keys map to {new_key!r}; the second is {key!r}')
        result.state_dict[new_key] = _to_tensor(value, key)
        result.key_map[key] = new_key
    for key in list(result.state_dict):
        if key.endswith('.bn.running_mean'):
            counter = key[:-len('running_mean')] + 'num_batches_tracked'
            result.state_dict.setdefault(counter, torch.tensor(0, dtype=torch.long))
    return result


def infer_backbone_kwargs(state_dict: Mapping[str, Tensor]) -> dict[str, Any]:
    """Infer ``VoVNet`` arguments (arch, attention, stage_with_dcn) from converted keys.

    Raises:
        ConversionError: If the structure matches no entry of ``VoVNet.arch_settings``.
    """
    from centermask_mm.models.backbones.vovnet import VoVNet

    def weight(key: str) -> Tensor:
        if key not in state_dict:
            raise ConversionError(f'cannot infer the VoVNet arch: key {key!r} is missing')
        return state_dict[key]

    depthwise = 'stem.1.depthwise_conv.conv.weight' in state_dict
    stem_last = 'stem.2.pointwise_conv.conv.weight' if depthwise else 'stem.2.conv.weight'
    blocks, mids, outs = [], [], []
    for s in range(2, 6):
        blocks.append(len({int(m.group(1)) for k in state_dict
                           if (m := re.match(rf'stage{s}\.osa(\d+)\.', k))}))
        layer0 = (f'stage{s}.osa1.layers.0.pointwise_conv.conv.weight' if depthwise
                  else f'stage{s}.osa1.layers.0.conv.weight')
        mids.append(weight(layer0).shape[0])
        outs.append(weight(f'stage{s}.osa1.concat.conv.weight').shape[0])
    layers = len({k.split('.')[3] for k in state_dict if k.startswith('stage2.osa1.layers.')})
    found = dict(
        stem_channels=(weight('stem.0.conv.weight').shape[0],
                       weight(stem_last.replace('stem.2', 'stem.1')).shape[0],
                       weight(stem_last).shape[0]),
        stage_mid_channels=tuple(mids),
        stage_out_channels=tuple(outs),
        layers_per_block=layers,
        blocks_per_stage=tuple(blocks),
        depthwise=depthwise)
    arch = next((name for name, setting in VoVNet.arch_settings.items() if setting == found),
                None)
    if arch is None:
        raise ConversionError(f'the weights describe no known VoVNet arch: {found}')
    attention = 'ese' if any('.attn.fc.' in k for k in state_dict) else None
    stage_with_dcn = tuple(
        any(k.startswith(f'stage{s}.') and '.conv_offset.' in k for k in state_dict)
        for s in range(2, 6))
    return dict(arch=arch, attention=attention, stage_with_dcn=stage_with_dcn)


def check_against_model(state_dict: Mapping[str, Tensor], model: torch.nn.Module) -> None:
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


def load_source(path: str | Path) -> dict[str, Any]:
    """Read a detectron2 checkpoint (``.pth`` or ``.pkl``) into a flat key -> array dict.

    Raises:
        ConversionError: If the file is missing or holds no state dict.
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
    for wrapper in ('model', 'state_dict'):
        if isinstance(obj, Mapping) and isinstance(obj.get(wrapper), Mapping):
            obj = obj[wrapper]
    if not isinstance(obj, Mapping) or not obj:
        raise ConversionError(f'{path}: expected a (possibly wrapped) state dict')
    return dict(obj)


def convert_file(src: str | Path, dst: str | Path, prefix: str = '',
                 ignore_unknown: bool = False) -> dict[str, Any]:
    """Convert ``src`` to ``dst`` and return the metadata written with it.

    Args:
        src: detectron2 checkpoint path.
        dst: Output path (``torch.save`` of ``{'state_dict', 'meta'}``).
        prefix: Prepended to every output key, e.g. ``'backbone.'`` for ``load_from``
            of a whole detector. Defaults to ''.
        ignore_unknown: Drop unknown backbone keys instead of failing. Defaults to False.

    Raises:
        ConversionError: On unknown keys (unless ignored) or any key/shape mismatch.
    """
    from centermask_mm.models.backbones.vovnet import VoVNet

    result = convert_state_dict(load_source(src))
    if result.unknown and not ignore_unknown:
        raise ConversionError(
            f'{src}: {len(result.unknown)} unknown backbone key(s): '
            + ', '.join(result.unknown))
    kwargs = infer_backbone_kwargs(result.state_dict)
    with torch.device('meta'):  # keys and shapes only: no allocation, no init
        model = VoVNet(**kwargs)
    check_against_model(result.state_dict, model)
    meta = dict(source=str(src), **kwargs, converted=len(result.key_map),
                skipped=len(result.skipped), unknown=result.unknown)
    state_dict = {prefix + k: v for k, v in result.state_dict.items()}
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    torch.save(dict(state_dict=state_dict, meta=meta), dst)
    return meta


def _to_tensor(value: Any, key: str) -> Tensor:
    if isinstance(value, Tensor):
        return value.detach().clone()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    raise ConversionError(f'key {key!r} holds a {type(value).__name__}, not a tensor')


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the process exit status."""
    parser = argparse.ArgumentParser(
        prog='python -m centermask_mm.converters.vovnet_detectron2',
        description='Convert centermask2 / vovnet-detectron2 VoVNet weights for VoVNet.')
    parser.add_argument('src', help='detectron2 checkpoint (.pth or .pkl)')
    parser.add_argument('dst', help='output .pth')
    parser.add_argument('--prefix', default='',
                        help="prefix for output keys, e.g. 'backbone.' (default: none)")
    parser.add_argument('--ignore-unknown', action='store_true',
                        help='drop backbone keys that match no rule instead of failing')
    args = parser.parse_args(argv)
    try:
        meta = convert_file(args.src, args.dst, args.prefix, args.ignore_unknown)
    except ConversionError as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(f"converted {meta['converted']} tensors ({meta['arch']}, attention="
          f"{meta['attention']}, dcn={meta['stage_with_dcn']}), skipped "
          f"{meta['skipped']} non-backbone keys -> {args.dst}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
