"""Export a CenterMask / CenterMask-Lite config (and checkpoint) to one ONNX file.

Deformable convolutions (mmcv's DCNv2 in the ``*-dconv-*`` configs) become ONNX
``DeformConv`` (opset 19), which onnxruntime's CPU provider implements.

The exporter is torch's TorchScript-based one (``torch.onnx.export(..., dynamo=False)``):
the graph's NMS and RoIAlign are ``autograd.Function``s with ONNX symbolics, and its
data-dependent parts (score threshold, NMS output) trace into standard ONNX ops. torch
2.13's default dynamo exporter (``torch.export``) stops on those data-dependent shapes
(see docs/deploy.md for what was tried).

The file carries what the runtime wrapper needs in its metadata (``metadata_props``):
``centermask.meta`` is a JSON object with the class names, the test pipeline's resize
(``scale``, ``keep_ratio``), the exported input shape (null per axis when dynamic), the
post-processing mode and ``mask_thr_binary``.
"""
from __future__ import annotations

import json
import logging
import types
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .graph import OUTPUT_NAMES, CenterMaskExportGraph, ExportError, postprocess_mode
from .ops import DEFORM_CONV_OPSET, MIN_OPSET, modulated_deform_conv_forward

#: Default ONNX opset: the newest the TorchScript exporter writes, >= MIN_OPSET.
DEFAULT_OPSET = 17
META_KEY = "centermask.meta"


def _dcn_modules(model: nn.Module) -> tuple[list[str], list[str]]:
    """Names of the exportable (mmcv DCNv2 ``ModulatedDeformConv2dPack``) and the other
    deformable convolutions of ``model``."""
    from mmcv.ops import DeformConv2d, ModulatedDeformConv2d, ModulatedDeformConv2dPack

    packed, other = [], []
    for name, m in model.named_modules():
        if isinstance(m, ModulatedDeformConv2dPack):
            packed.append(name)
        elif isinstance(m, DeformConv2d | ModulatedDeformConv2d):
            other.append(name)
    return packed, other


def check_exportable(model: nn.Module, opset: int | None = None) -> int:
    """Raise :class:`ExportError` for parts the ONNX graph cannot hold; return the opset.

    ``opset`` None picks the default: 17, or 19 for a model with deformable convolutions
    (mmcv's DCNv2, ``stage_with_dcn`` / ``dcn`` in the configs), which are exported as
    ONNX ``DeformConv`` (opset 19). DCN v1 (``DeformConv2d``) is refused.
    """
    if type(model).__name__ != "CenterMask":
        raise ExportError(f"model.type={type(model).__name__}: only CenterMask (and "
                          "CenterMask-Lite) configs are exported")
    packed, other = _dcn_modules(model)
    if other:
        raise ExportError(
            f"model.{other[0].split('.')[0]} uses a deformable convolution other than "
            f"mmcv's DCNv2 (ModulatedDeformConv2dPack): '{other[0]}'; only DCNv2 is "
            "exported (as ONNX DeformConv)")
    if opset is None:
        opset = DEFORM_CONV_OPSET if packed else DEFAULT_OPSET
    if opset < MIN_OPSET:
        raise ExportError(f"--opset {opset}: RoiAlign's half_pixel mode needs opset >= "
                          f"{MIN_OPSET}")
    if packed and opset < DEFORM_CONV_OPSET:
        raise ExportError(
            f"model.{packed[0].split('.')[0]} has deformable convolutions ('{packed[0]}', "
            f"from stage_with_dcn / dcn): ONNX DeformConv needs opset >= "
            f"{DEFORM_CONV_OPSET}, got --opset {opset}")
    return opset


@contextmanager
def _exportable_dcn(model: nn.Module):
    """Route every DCNv2 layer through :class:`ModulatedDeformConv` while exporting."""
    packed, _ = _dcn_modules(model)
    modules = [model.get_submodule(name) for name in packed]
    for m in modules:
        m.forward = types.MethodType(modulated_deform_conv_forward, m)
    try:
        yield
    finally:
        for m in modules:
            del m.forward  # back to the class's forward


def _test_resize(cfg: Any) -> dict:
    """``scale``, ``keep_ratio``, ``backend``, ``interpolation`` of the config's test
    pipeline Resize (scale None if there is none)."""
    pipeline = (cfg.get("test_dataloader") or {}).get("dataset", {}).get("pipeline") \
        or cfg.get("test_pipeline") or []
    for step in pipeline:
        if step.get("type") in ("Resize", "mmdet.Resize"):
            scale = step.get("scale")
            return dict(scale=list(scale) if scale is not None else None,
                        keep_ratio=bool(step.get("keep_ratio", False)),
                        backend=step.get("backend", "cv2"),
                        interpolation=step.get("interpolation", "bilinear"))
    return dict(scale=None, keep_ratio=True)


def _class_names(cfg: Any, num_classes: int) -> list[str]:
    for key in ("test_dataloader", "val_dataloader"):
        meta = ((cfg.get(key) or {}).get("dataset") or {}).get("metainfo") or {}
        if meta.get("classes"):
            return list(meta["classes"])
    if num_classes == 80:
        from mmdet.datasets import CocoDataset

        return list(CocoDataset.METAINFO["classes"])
    return [str(i) for i in range(num_classes)]


def build_model(config: str | Path | Any, checkpoint: str | Path | None = None,
                cfg_options: dict | None = None) -> tuple[nn.Module, Any]:
    """Build a CenterMask from a config file (or ``Config``) in eval mode on CPU.

    Without ``checkpoint`` the weights are random (the backbone's ``init_cfg`` is
    dropped, so no pretrained file is looked for). Returns ``(model, cfg)``.
    """
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint

    import centermask_mm  # noqa: F401  (registers the components)

    cfg = config if isinstance(config, Config) else Config.fromfile(str(config))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get("default_scope", "mmdet"))
    cfg.model.get("backbone", {}).pop("init_cfg", None)
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        from centermask_mm.utils import allow_full_checkpoint_load

        allow_full_checkpoint_load()
        load_checkpoint(model, str(checkpoint), map_location="cpu")
    else:
        # Random weights with each module's own initialisation (e.g. FCOS's prior bias);
        # mmengine logs every parameter's init, which is noise here.
        from mmengine.logging import MMLogger

        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.ERROR)
        try:
            model.init_weights()
        finally:
            logger.setLevel(level)
    return model.eval(), cfg


def export_onnx(model: nn.Module, out: str | Path, *, shape: Sequence[int] = (800, 1216),
                dynamic: bool = False, opset: int | None = None, cfg: Any = None,
                verbose: bool = False) -> Path:
    """Write ``model`` (a built CenterMask, eval mode) as an ONNX file.

    Args:
        model (nn.Module): The CenterMask.
        out (str | Path): Output ``.onnx`` path (parents are created).
        shape (Sequence[int]): (H, W) of the traced input; the graph's fixed input shape
            unless ``dynamic``.
        dynamic (bool): Make H and W of ``image`` dynamic.
        opset (int, optional): ONNX opset, >= 16 (RoiAlign's half-pixel mode), >= 19 with
            deformable convolutions (DeformConv). None: 17, or 19 with DCN.
        cfg (Config, optional): The model's config, for the metadata (class names, test
            resize); without it the metadata has none.
        verbose (bool): Print the exporter's graph.

    Returns:
        Path: ``out``.

    Raises:
        ExportError: the model cannot be exported (unsupported parts, DCN v1, an opset
            below 16, or below 19 with DCN).
    """
    import onnx

    opset = check_exportable(model, opset)
    graph = CenterMaskExportGraph(model.eval()).eval()
    h, w = (int(v) for v in shape)
    # Traced on a random image; the graph does not depend on its content.
    image = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0)) * 255
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    dynamic_axes = {name: {0: "num_dets"} for name in OUTPUT_NAMES}
    if dynamic:
        dynamic_axes["image"] = {2: "height", 3: "width"}
    with torch.no_grad(), warnings.catch_warnings(), _exportable_dcn(model):
        warnings.simplefilter("ignore")  # tracer and deprecation warnings, all expected
        torch.onnx.export(graph, (image,), str(out), dynamo=False, opset_version=opset,
                          input_names=["image"], output_names=list(OUTPUT_NAMES),
                          dynamic_axes=dynamic_axes, do_constant_folding=True,
                          verbose=verbose)
    proto = onnx.load(str(out))
    meta = dict(
        postprocess=postprocess_mode(model),
        input_shape=[None, None] if dynamic else [h, w],
        mask_thr_binary=float((model.roi_head.test_cfg or {}).get("mask_thr_binary", 0.5)),
        num_classes=int(model.bbox_head.num_classes),
        classes=_class_names(cfg, int(model.bbox_head.num_classes)) if cfg is not None
        else None,
        resize=_test_resize(cfg) if cfg is not None else dict(scale=None, keep_ratio=True),
    )
    dp = model.data_preprocessor
    if getattr(dp, "_enable_normalize", False):
        mean = [float(v) for v in dp.mean.flatten()]
        # The letterbox colour (BGR) that normalises to 0, mmdet's padding value.
        meta["pad_bgr"] = mean[::-1] if getattr(dp, "_channel_conversion", False) else mean
    else:
        meta["pad_bgr"] = [0.0, 0.0, 0.0]
    entry = proto.metadata_props.add()
    entry.key, entry.value = META_KEY, json.dumps(meta)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(out))
    return out
