"""Optional speed switches for inference, applied to a model instance and reversible.

All of them act on the backbone and the neck only: their input shape is static after
padding, they hold most of the FLOPs, and the heads' post-processing (NMS, RoIAlign, mask
paste-back) is dynamic and runs in mmcv ops that expect FP32 NCHW tensors.

- ``fuse_conv_bn``: fold every eval-mode BatchNorm into the preceding conv (mmcv
  ``fuse_conv_bn``); exact up to float rounding. mmdet's model-zoo times are *unfused*, so
  the reference measurement keeps BN.
- ``channels_last``: backbone and neck weights and activations in NHWC; features are handed
  to the heads as contiguous NCHW again.
- ``bf16``: backbone and neck under ``torch.autocast(dtype=bfloat16)``; features are cast
  back to FP32. Results are *not* bit-equal; the harness reports by how much they differ.
- ``compile``: ``torch.compile`` (inductor, static shapes) of the backbone and neck
  forwards. The first call compiles (untimed warm-up); a failure is reported, not raised.

Every switch is tried on its own first call; one that fails is undone and reported with
its error in the result (:func:`apply_options`), and the measurement goes on without it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

#: Switch names in the order they are applied.
OPTION_NAMES: tuple[str, ...] = ("fuse_conv_bn", "channels_last", "bf16", "compile")


@dataclass
class AppliedOptions:
    """The switches in force on a model, with the undo actions and per-switch reports."""

    model: nn.Module
    report: dict[str, dict[str, Any]] = field(default_factory=dict)
    _undo: list[Callable[[], None]] = field(default_factory=list)

    def undo(self) -> None:
        """Put the model back as it was before :func:`apply_options`."""
        while self._undo:
            self._undo.pop()()

    @property
    def applied(self) -> list[str]:
        """Names of the switches that are in force."""
        return [k for k, v in self.report.items() if v.get("applied")]


def _replace_forward(module: nn.Module, new: Callable[..., Any]) -> Callable[[], None]:
    # An earlier switch may have set the instance's own forward: undo puts that one back.
    old = vars(module).get("forward")
    module.forward = new

    def undo() -> None:
        if old is not None:
            module.forward = old
        else:
            del module.forward
    return undo


def _part(model: nn.Module, name: str) -> nn.Module | None:
    """The detector's ``backbone`` or ``neck`` submodule; None when it has none."""
    part = getattr(model, name, None)
    return part if isinstance(part, nn.Module) else None


def _to_nchw(feats: Any) -> Any:
    if isinstance(feats, torch.Tensor):
        return feats.contiguous()
    return type(feats)(f.contiguous() for f in feats)


def _to_float(feats: Any) -> Any:
    if isinstance(feats, torch.Tensor):
        return feats.float()
    return type(feats)(f.float() for f in feats)


def _fuse(model: nn.Module) -> Callable[[], None]:
    """Fuse conv+BN in backbone and neck; undo restores the original submodules."""
    import copy

    from mmcv.cnn import fuse_conv_bn

    saved = {name: copy.deepcopy(getattr(model, name)) for name in ("backbone", "neck")
             if getattr(model, name, None) is not None}
    for name in saved:
        setattr(model, name, fuse_conv_bn(getattr(model, name)))

    def undo() -> None:
        for name, module in saved.items():
            setattr(model, name, module)
    return undo


def _to_memory_format(parts: list[nn.Module], memory_format: torch.memory_format) -> None:
    """Move every part's 4-D weights to ``memory_format``, in place."""
    for part in parts:
        # torch's Module.to overloads omit the memory_format keyword it documents and accepts
        part.to(memory_format=memory_format)  # type: ignore[call-overload]


def _channels_last(model: nn.Module) -> Callable[[], None]:
    parts = [m for m in (_part(model, "backbone"), _part(model, "neck")) if m is not None]
    _to_memory_format(parts, torch.channels_last)
    undos = []
    backbone, neck = parts[0], parts[-1]
    fwd = backbone.forward
    undos.append(_replace_forward(
        backbone, lambda x: fwd(x.contiguous(memory_format=torch.channels_last))))
    nfwd = neck.forward
    undos.append(_replace_forward(neck, lambda feats: _to_nchw(nfwd(feats))))

    def undo() -> None:
        for u in reversed(undos):
            u()
        _to_memory_format(parts, torch.contiguous_format)
    return undo


def _bf16(model: nn.Module, device_type: str) -> Callable[[], None]:
    backbone, neck = model.get_submodule("backbone"), _part(model, "neck")
    last = neck if neck is not None else backbone
    fwd, lfwd = backbone.forward, last.forward

    def bb(x: torch.Tensor) -> Any:
        with torch.autocast(device_type, dtype=torch.bfloat16):
            return fwd(x)

    def nk(feats: Any) -> Any:
        with torch.autocast(device_type, dtype=torch.bfloat16):
            out = lfwd(feats)
        return _to_float(out)

    if neck is None:
        undo_b = _replace_forward(backbone, lambda x: _to_float(bb(x)))
        return undo_b
    undo_b = _replace_forward(backbone, bb)
    undo_n = _replace_forward(neck, nk)

    def undo() -> None:
        undo_n()
        undo_b()
    return undo


def _compile(model: nn.Module) -> Callable[[], None]:
    undos = []
    for name in ("backbone", "neck"):
        part = getattr(model, name, None)
        if part is None:
            continue
        undos.append(_replace_forward(part, torch.compile(part.forward, dynamic=False)))

    def undo() -> None:
        for u in reversed(undos):
            u()
    return undo


def apply_options(model: nn.Module, options: dict[str, bool], trial: Callable[[], Any],
                  device_type: str = "cpu") -> AppliedOptions:
    """Apply the requested switches one by one, keeping those whose trial run succeeds.

    Args:
        model (nn.Module): Detector in eval mode.
        options (dict[str, bool]): Switch name (:data:`OPTION_NAMES`) -> requested.
        trial (Callable[[], Any]): Runs one inference (e.g. ``model.test_step`` on the
            benchmark batch); called after each switch is applied. For ``compile`` this
            first call is the compilation.
        device_type (str): ``'cpu'`` or ``'cuda'``, for autocast.

    Returns:
        AppliedOptions: ``report[name]`` = ``{'applied': bool, 'error': str | None}`` for
        each requested switch; call ``undo()`` to restore the model.

    Raises:
        ValueError: an unknown switch name.
    """
    unknown = set(options) - set(OPTION_NAMES)
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)}; known: {OPTION_NAMES}")
    state = AppliedOptions(model)
    for name in OPTION_NAMES:
        if not options.get(name):
            continue
        if getattr(model, "backbone", None) is None:
            state.report[name] = {"applied": False, "error": "model has no backbone"}
            continue
        try:
            if name == "fuse_conv_bn":
                undo = _fuse(model)
            elif name == "channels_last":
                undo = _channels_last(model)
            elif name == "bf16":
                undo = _bf16(model, device_type)
            else:
                undo = _compile(model)
        except Exception as exc:  # noqa: BLE001 - reported, measurement continues
            state.report[name] = {"applied": False, "error": f"{type(exc).__name__}: {exc}"}
            continue
        try:
            with torch.no_grad():
                trial()
        except Exception as exc:  # noqa: BLE001 - reported, measurement continues
            undo()
            msg = str(exc).strip().splitlines()
            state.report[name] = {"applied": False,
                                  "error": f"{type(exc).__name__}: {msg[0] if msg else ''}"}
            continue
        state._undo.append(undo)
        state.report[name] = {"applied": True, "error": None}
    return state
