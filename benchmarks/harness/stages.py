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
import math
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


def _has_macs(module: nn.Module) -> bool:
    """Whether ``module`` holds a conv / deconv / linear layer (mmcv's convs included)."""
    return any(isinstance(m, nn.Linear) or (isinstance(getattr(m, "weight", None), torch.Tensor)
                                            and "conv" in type(m).__name__.lower())
               for m in module.modules())


def _deform_conv_macs(weight_index: int) -> Any:
    """mmengine handle for an mmcv deformable conv: out.numel() * in/groups * kh * kw MACs.

    mmengine's handles do not know mmcv's autograd functions (they trace as
    ``prim::PythonOp``, tensor arguments only), so this one op is counted here; the weight
    is tensor input 3 of the modulated op (x, offset, mask, weight, bias) and 2 of the
    plain one (x, offset, weight).
    """
    def handle(inputs: list[Any], outputs: list[Any]) -> int:
        from mmengine.analysis.jit_handles import get_shape

        out, weight = get_shape(outputs[0]), get_shape(inputs[weight_index])
        return math.prod(out) * math.prod(weight[1:]) if out and weight else 0
    return handle


def _mac_handles() -> dict[str, Any]:
    """The operators counted as multiply-accumulates: mmengine's handles for convolutions
    (transposed too), linear layers and matrix products, and mmcv's deformable convs.
    Normalisation, pooling, upsampling and grid_sample are not MACs and not counted, nor
    are RoIAlign and NMS."""
    from mmengine.analysis import jit_handles as jh

    return {"aten::_convolution": jh.conv_flop_jit, "aten::linear": jh.linear_flop_jit,
            "aten::addmm": jh.addmm_flop_jit, "aten::matmul": jh.matmul_flop_jit,
            "aten::mm": jh.matmul_flop_jit, "aten::bmm": jh.bmm_flop_jit,
            "aten::einsum": jh.einsum_flop_jit,
            "prim::PythonOp.ModulatedDeformConv2dFunction": _deform_conv_macs(3),
            "prim::PythonOp.DeformConv2dFunction": _deform_conv_macs(2)}


class _Call(nn.Module):
    """One recorded call of a module, replayed without arguments (for jit tracing)."""

    def __init__(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
                 ) -> None:
        super().__init__()
        self.module = module
        self.args, self.kwargs = args, kwargs

    def forward(self) -> Any:
        return self.module(*self.args, **self.kwargs)


def count_macs(module: nn.Module, args: tuple[Any, ...] = (),
               kwargs: dict[str, Any] | None = None) -> int:
    """Multiply-accumulates of ``module(*args, **kwargs)``, by mmengine's ``FlopAnalyzer``.

    The call is jit-traced once (so its outputs must be tensors or nested tuples / lists /
    dicts of them); see :func:`_mac_handles` for what counts. One fused multiply-add is one
    MAC (mmengine's "flop").
    """
    from mmengine.analysis import FlopAnalyzer

    analyzer = FlopAnalyzer(_Call(module, args, kwargs or {}), ())
    analyzer.clear_op_handles().set_op_handle(**_mac_handles())
    analyzer.tracer_warnings("none").unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    with torch.no_grad():
        return int(analyzer.total())


class MacCounter:
    """Count multiply-accumulates per stage (see :func:`count_macs` for what counts).

    While active, the arguments of every ``forward`` call of the conv / linear-holding
    modules that :data:`STAGES` names are recorded, and so are those of the detector's
    top-level children that no stage path reaches (SAIS's and mmdet's YOLACT / CondInst /
    SOLO protonet ``mask_head``), under ``other``. On exit each call is counted by
    :func:`count_macs` (traced once more, outside the timed runs); like the timer's,
    counts are exclusive: a recorded call made inside another is subtracted from the
    outer one. FLOPs do not depend on machine load, so they explain a latency ratio where
    timings are noisy.

    Attributes:
        macs (dict[str, int]): MACs per stage (``'other'`` for the uncovered children),
            after exit.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.macs: dict[str, int] = {}
        # (stage, module, args, kwargs, index of the enclosing recorded call or -1)
        self._calls: list[tuple[str, nn.Module, tuple[Any, ...], dict[str, Any], int]] = []
        self._open: list[int] = []  # recorded calls still running, innermost last
        self._handles: list[Any] = []

    def _recorded(self) -> list[tuple[str, nn.Module]]:
        """(stage, module) of every module whose ``forward`` calls are counted."""
        out: list[tuple[str, nn.Module]] = []
        covered: set[str] = set()
        for name, path, method, _group in STAGES:
            module = attribute_at(self.model, path)
            if isinstance(module, nn.Module):
                covered.add(path.split(".")[0])
                if method == "forward" and _has_macs(module):
                    out.append((name, module))
        out += [("other", child) for child_name, child in self.model.named_children()
                if child_name not in covered and _has_macs(child)]
        return out

    def _enter_call(self, stage: str, module: nn.Module, args: tuple[Any, ...],
                    kwargs: dict[str, Any]) -> None:
        self._calls.append((stage, module, args, kwargs, self._open[-1] if self._open else -1))
        self._open.append(len(self._calls) - 1)

    def _exit_call(self, *_: object) -> None:
        self._open.pop()  # returns None: a forward hook's return value replaces the output

    def __enter__(self) -> MacCounter:
        for stage, module in self._recorded():
            self._handles += [
                module.register_forward_pre_hook(functools.partial(self._enter_call, stage),
                                                 with_kwargs=True),
                module.register_forward_hook(self._exit_call, always_call=True)]
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        calls, self._calls, self._open = self._calls, [], []
        if exc[0] is None:
            for stage, module, args, kwargs, parent in calls:
                n = count_macs(module, args, kwargs)
                self.macs[stage] = self.macs.get(stage, 0) + n
                if parent >= 0:  # already inside the enclosing call's trace
                    self.macs[calls[parent][0]] -= n
