"""Per-stage inference timing without touching model code.

:class:`StageTimer` replaces, on the model *instance*, the methods that a detector's own
``predict`` calls (``backbone.forward``, ``bbox_head.predict_by_feat``, ...) with timed
wrappers, and puts the originals back on exit. The detector still runs its real
``test_step``; the wrappers only read the clock (after ``torch.cuda.synchronize`` on GPU).
Times are *exclusive*: when a timed method calls another timed one, the inner time is
subtracted from the outer, so stages never count a millisecond twice. Whatever runs outside
every stage (``add_pred_to_datasample``, ``bbox2roi``, the MaskIoU label gather, ...) is
reported as ``other`` = total - sum(stages).

Stages (each present only if the model has the part):

=================  ==========================================  =========================
stage              method                                      group
=================  ==========================================  =========================
preprocess         ``data_preprocessor.forward``               preprocess
backbone           ``backbone.forward``                        backbone+FPN
fpn                ``neck.forward``                            backbone+FPN
rpn_head           ``rpn_head.forward``                        RPN
rpn_nms            ``rpn_head.predict_by_feat``                RPN
dense_head         ``bbox_head.forward`` (FCOS towers)         dense head+NMS
dense_nms          ``bbox_head.predict_by_feat`` (decode, NMS) dense head+NMS
box_roi_extract    ``roi_head.bbox_roi_extractor.forward``     box head
box_head           ``roi_head.bbox_head.forward``              box head
box_nms            ``roi_head.bbox_head.predict_by_feat``      box head
mask_roi_extract   ``roi_head.mask_roi_extractor.forward``     RoI extraction
mask_head          ``roi_head.mask_head.forward``              mask head
maskiou_head       ``roi_head.mask_iou_head.forward``          MaskIoU head
paste_back         ``roi_head.mask_head.predict_by_feat``      paste-back
=================  ==========================================  =========================

The CenterMask RoI extractor's level mapping (Eq. 2) is inside ``mask_roi_extract``.
"""
from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

#: (stage, dotted path of the module, method, group), in execution order.
STAGES: tuple[tuple[str, str, str, str], ...] = (
    ("preprocess", "data_preprocessor", "forward", "preprocess"),
    ("backbone", "backbone", "forward", "backbone+FPN"),
    ("fpn", "neck", "forward", "backbone+FPN"),
    ("rpn_head", "rpn_head", "forward", "RPN"),
    ("rpn_nms", "rpn_head", "predict_by_feat", "RPN"),
    ("dense_head", "bbox_head", "forward", "dense head+NMS"),
    ("dense_nms", "bbox_head", "predict_by_feat", "dense head+NMS"),
    ("box_roi_extract", "roi_head.bbox_roi_extractor", "forward", "box head"),
    ("box_head", "roi_head.bbox_head", "forward", "box head"),
    ("box_nms", "roi_head.bbox_head", "predict_by_feat", "box head"),
    ("mask_roi_extract", "roi_head.mask_roi_extractor", "forward", "RoI extraction"),
    ("mask_head", "roi_head.mask_head", "forward", "mask head"),
    ("maskiou_head", "roi_head.mask_iou_head", "forward", "MaskIoU head"),
    ("paste_back", "roi_head.mask_head", "predict_by_feat", "paste-back"),
)

#: Group of every stage name, plus ``other``.
STAGE_GROUPS: dict[str, str] = {name: group for name, _p, _m, group in STAGES}
STAGE_GROUPS["other"] = "other"


def attribute_at(obj: Any, dotted: str) -> Any:
    """``obj.a.b.c`` for ``dotted = 'a.b.c'``, or None where a part is missing or None."""
    for part in dotted.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


class StageTimer:
    """Context manager timing the stages of one or more ``test_step`` calls.

    Args:
        model (nn.Module): An mmdet detector.
        device (torch.device | str): Where it runs; CUDA is synchronised around each stage.

    Attributes:
        stages (list[str]): The stages this model has, in execution order.
        times (dict[str, float]): Exclusive milliseconds per stage since the last
            :meth:`reset`.

    Example::

        with StageTimer(model, 'cpu') as timer:
            timer.reset()
            model.test_step(batch)
            per_stage = dict(timer.times)
    """

    def __init__(self, model: nn.Module, device: torch.device | str = "cpu") -> None:
        self.model = model
        self.cuda = torch.device(device).type == "cuda"
        self.stages: list[str] = []
        self.times: dict[str, float] = {}
        self._patched: list[tuple[Any, str, bool, Any]] = []
        self._stack: list[list[float]] = []  # [start, child_time] per active stage
        self._names: list[str] = []
        #: id(module) -> stage, for stages that are a module's ``forward``.
        self.module_stage: dict[int, str] = {}

    def _sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def _wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._sync()
            frame = [time.perf_counter(), 0.0]
            self._stack.append(frame)
            self._names.append(name)
            try:
                return fn(*args, **kwargs)
            finally:
                self._sync()
                elapsed = time.perf_counter() - frame[0]
                self._stack.pop()
                self._names.pop()
                self.times[name] = self.times.get(name, 0.0) + (elapsed - frame[1]) * 1e3
                if self._stack:
                    self._stack[-1][1] += elapsed
        return timed

    def __enter__(self) -> StageTimer:
        for name, path, method, _group in STAGES:
            module = attribute_at(self.model, path)
            if module is None or not callable(getattr(module, method, None)):
                continue
            had_own = method in vars(module)
            original = getattr(module, method)
            setattr(module, method, self._wrap(name, original))
            self._patched.append((module, method, had_own, original))
            self.stages.append(name)
            if method == "forward":
                self.module_stage[id(module)] = name
        self.reset()
        return self

    def __exit__(self, *exc: object) -> None:
        for module, method, had_own, original in reversed(self._patched):
            if had_own:
                setattr(module, method, original)
            else:
                delattr(module, method)
        self._patched.clear()
        self.module_stage.clear()

    def reset(self) -> None:
        """Zero the accumulated times (every stage of this model gets a 0.0 entry)."""
        self.times = dict.fromkeys(self.stages, 0.0)
        self._stack.clear()
        self._names.clear()

    @property
    def active(self) -> str:
        """The innermost stage running now, or ``'other'``."""
        return self._names[-1] if self._names else "other"


def group_times(stage_ms: dict[str, float]) -> dict[str, float]:
    """Sum stage times into the groups of :data:`STAGES` (``backbone+FPN``, ``RPN``, ...)."""
    out: dict[str, float] = {}
    for name, ms in stage_ms.items():
        group = STAGE_GROUPS.get(name, name)
        out[group] = out.get(group, 0.0) + ms
    return out


def _macs(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> int:
    """Multiply-accumulates of one call of a conv / deconv / linear layer (0 otherwise)."""
    weight = getattr(module, "weight", None)
    if not isinstance(weight, torch.Tensor) or not isinstance(output, torch.Tensor):
        return 0
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    if isinstance(module, nn.ConvTranspose2d):
        x = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
        return 0 if x is None else x.numel() * weight[0].numel()
    if weight.dim() == 4 and "conv" in type(module).__name__.lower():
        # (out, in/groups, kh, kw): every output element costs in/groups*kh*kw MACs;
        # covers nn.Conv2d and mmcv's (modulated) deformable convs.
        return output.numel() * weight[0].numel()
    return 0


class MacCounter:
    """Count conv / deconv / linear multiply-accumulates per stage of a :class:`StageTimer`.

    Forward hooks on every such layer attribute its MACs to the timer's active stage. FLOPs
    do not depend on machine load, so they explain a latency ratio where timings are noisy.
    RoIAlign, NMS, grid_sample and element-wise ops are not counted.

    Attributes:
        macs (dict[str, int]): MACs per stage (``'other'`` outside every stage).
    """

    def __init__(self, model: nn.Module, timer: StageTimer) -> None:
        self.model = model
        self.timer = timer
        self.macs: dict[str, int] = {}
        self._handles: list[Any] = []

    def _hook(self, module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        n = _macs(module, inputs, output)
        if n:
            # A stage that is itself a layer finishes its forward before forward hooks run.
            stage = self.timer.module_stage.get(id(module)) or self.timer.active
            self.macs[stage] = self.macs.get(stage, 0) + n

    def __enter__(self) -> MacCounter:
        for module in self.model.modules():
            if isinstance(module, nn.Linear | nn.ConvTranspose2d) or (
                    isinstance(getattr(module, "weight", None), torch.Tensor)
                    and "conv" in type(module).__name__.lower()):
                self._handles.append(module.register_forward_hook(self._hook))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
