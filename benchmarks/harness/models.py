"""Configs to randomly initialised models, and the fixed detection count.

Random weights make post-processing unpredictable: FCOS's prior-initialised classifier
scores about 0.01, under the 0.03 threshold, so nothing reaches the mask branch, while a
default-initialised one keeps thousands of candidates. Latency is therefore measured at a
**fixed detection count**, the test-time top-k (``max_per_img``: 50 for CenterMask, 100 for
Mask R-CNN), by :func:`fixed_detections`:

- the final classifier (FCOS ``bbox_head.conv_cls``, Mask R-CNN ``roi_head.bbox_head.fc_cls``)
  gets zero weights and a bias of ``+logit`` for class 0 and ``-logit`` for every other
  class (and the background), so every location / proposal scores ~1 for one class and ~0
  for the rest;
- the configs' ``score_thr``, ``nms_pre``, NMS IoU and ``max_per_img`` stay as they are, so
  NMS sees one class's candidates: ``nms_pre`` per FPN level for FCOS (as many as a trained
  model at most keeps), every RPN proposal for Mask R-CNN's box head;
- boxes are still random (regression weights are untouched); NMS leaves far more than the
  top-k of them, so the top-k is filled. The harness checks the count on every run.

Setting ``score_thr=0`` instead would feed all classes' scores (1000 proposals x 80 classes
for Mask R-CNN) to NMS, an unrealistic cost that would favour CenterMask in the ratios.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .config_names import package_config_path
from .stages import attribute_at

#: Final classifiers whose bias decides which candidates survive the score threshold, in
#: the order they are looked for: (dotted path, activation). Softmax heads keep the
#: background as their last output (mmdet convention).
CLASSIFIERS: tuple[tuple[str, str], ...] = (
    ("roi_head.bbox_head.fc_cls", "softmax"),
    ("bbox_head.conv_cls", "sigmoid"),
    ("bbox_head.retina_cls", "sigmoid"),
    ("bbox_head.atss_cls", "sigmoid"),
)

#: Logit magnitude of :func:`fixed_detections`: sigmoid(10) = 0.99995, softmax puts ~1 on
#: class 0 and < 1e-8 on the others.
DEFAULT_LOGIT = 10.0


class BenchConfigError(ValueError):
    """A config given to the benchmark cannot be found, loaded or built."""


def resolve_config(name: str | Path) -> Path:
    """Path of a config given as a file path or as ``package::relative/path.py``.

    Raises:
        BenchConfigError: the file (or the package holding it) does not exist.
    """
    name = str(name)
    if "::" in name:
        return package_config_path(name, BenchConfigError)
    path = Path(name)
    if not path.is_file():
        raise BenchConfigError(f"config {name!r}: no such file")
    return path


def strip_pretrained(node: Any) -> None:
    """Drop, in place, every ``init_cfg`` that would load a checkpoint and every ``pretrained``
    path in a config tree (random init, no downloads)."""
    if isinstance(node, dict):
        init = node.get("init_cfg")
        inits = init if isinstance(init, list) else [init]
        if any(isinstance(i, dict) and i.get("type") == "Pretrained" for i in inits):
            node["init_cfg"] = None
        if "pretrained" in node and isinstance(node.get("pretrained"), str):
            node["pretrained"] = None
        for value in node.values():
            strip_pretrained(value)
    elif isinstance(node, list | tuple):
        for value in node:
            strip_pretrained(value)


def load_model_config(config: str | Path | Any) -> Any:
    """The ``model`` section of a config (path, ``mmdet::`` name or ``Config``), ready to build.

    Pretrained initialisation is removed everywhere (``init_cfg=None``); the config itself is
    not changed.

    Raises:
        BenchConfigError: the config is missing, unreadable or has no ``model``.
    """
    from mmengine.config import Config

    if isinstance(config, Config):
        cfg, where = config, getattr(config, "filename", None) or "<Config>"
    else:
        path = resolve_config(config)
        where = str(config)
        try:
            cfg = Config.fromfile(str(path))
        except Exception as exc:  # noqa: BLE001 - any parse failure is the config's
            raise BenchConfigError(f"config {where!r}: {type(exc).__name__}: {exc}") from exc
    if "model" not in cfg:
        raise BenchConfigError(f"config {where!r} has no 'model' section")
    model_cfg = copy.deepcopy(cfg.model)
    strip_pretrained(model_cfg)
    return model_cfg


def build_model(config: str | Path | Any, device: str = "cpu") -> nn.Module:
    """Build a randomly initialised detector from a config, in eval mode on ``device``.

    Weights keep PyTorch's default initialisation (``init_weights`` is not called, so no
    checkpoint is read); for latency only the shapes matter.

    Raises:
        BenchConfigError: the config cannot be loaded or the model cannot be built.
    """
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    import centermask_mm  # noqa: F401  (registers CenterMask's modules)

    register_all_modules(init_default_scope=True)
    model_cfg = load_model_config(config)
    try:
        model = MODELS.build(model_cfg)
    except Exception as exc:  # noqa: BLE001 - report which config failed
        raise BenchConfigError(f"config {config!s}: model does not build: "
                               f"{type(exc).__name__}: {exc}") from exc
    return model.to(device).eval()


def detection_top_k(model: nn.Module) -> int | None:
    """The test-time top-k of a detector: ``max_per_img`` of its last detection stage.

    CenterMask and single-stage detectors: ``bbox_head.test_cfg.max_per_img``; two-stage
    detectors: ``roi_head.test_cfg.max_per_img`` (the R-CNN stage).
    """
    roi_head = getattr(model, "roi_head", None)
    if roi_head is not None and getattr(roi_head, "bbox_head", None) is not None:
        cfg = getattr(roi_head, "test_cfg", None)
    else:
        cfg = getattr(getattr(model, "bbox_head", None), "test_cfg", None)
    if cfg is None:
        return None
    k = cfg.get("max_per_img") if hasattr(cfg, "get") else None
    return int(k) if k is not None else None


def _step(model: nn.Module, name: str) -> Callable[..., Any]:
    """The bound ``model.<name>`` step method of an mmengine ``BaseModel``.

    Looked up here because torch types a module's unknown attributes as ``Tensor | Module``
    and mmengine is untyped, so ``model.test_step(...)`` cannot be checked at the call site.

    Raises:
        AttributeError: the model has no such method (not an mmengine ``BaseModel``).
    """
    step = getattr(model, name, None)
    if step is None:
        raise AttributeError(f"{type(model).__name__!r} object has no attribute {name!r} "
                             f"(not an mmengine BaseModel)")
    return step


def run_test_step(model: nn.Module, data: dict[str, Any]) -> list[Any]:
    """``model.test_step(data)``: preprocessing, forward and post-processing of a batch
    (:func:`~.inputs.inference_batch`); one ``DetDataSample`` per image."""
    return _step(model, "test_step")(data)


def run_train_step(model: nn.Module, data: dict[str, Any], optim_wrapper: Any
                   ) -> dict[str, torch.Tensor]:
    """``model.train_step(data, optim_wrapper)``: forward with losses, backward and the
    optimiser update on a batch (:func:`~.inputs.training_batch`); the logged losses."""
    return _step(model, "train_step")(data, optim_wrapper)


def find_classifier(model: nn.Module) -> tuple[str, str, nn.Conv2d | nn.Linear] | None:
    """The final classifier that :func:`fixed_detections` biases: (path, activation, layer);
    the layer always has a bias."""
    for path, kind in CLASSIFIERS:
        layer = attribute_at(model, path)
        if isinstance(layer, nn.Conv2d | nn.Linear) and layer.bias is not None:
            return path, kind, layer
    return None


@contextmanager
def fixed_detections(model: nn.Module, logit: float = DEFAULT_LOGIT
                     ) -> Iterator[dict[str, Any]]:
    """Make every image yield exactly the test-time top-k detections, then restore the model.

    See the module docstring for the method. Works on trained models too: their classifier
    weights are saved and put back on exit.

    Yields:
        dict: ``classifier`` (dotted path or None when no known classifier was found, in
        which case nothing is changed), ``top_k`` (:func:`detection_top_k`), ``logit``.
    """
    found = find_classifier(model)
    info: dict[str, Any] = {"classifier": None, "top_k": detection_top_k(model),
                            "logit": logit}
    if found is None:
        yield info
        return
    path, _kind, layer = found
    bias = layer.bias
    assert bias is not None  # find_classifier only returns layers with a bias
    saved_w = layer.weight.detach().clone()
    saved_b = bias.detach().clone()
    with torch.no_grad():
        layer.weight.zero_()
        bias.fill_(-logit)
        bias[0] = logit
    info["classifier"] = path
    try:
        yield info
    finally:
        with torch.no_grad():
            layer.weight.copy_(saved_w)
            bias.copy_(saved_b)


def num_classes(model: nn.Module) -> int:
    """Number of object classes of a detector (for synthetic training labels)."""
    for path in ("bbox_head.num_classes", "roi_head.bbox_head.num_classes",
                 "roi_head.mask_head.num_classes"):
        value = attribute_at(model, path)
        if isinstance(value, int):
            return value
    raise BenchConfigError(f"{type(model).__name__}: cannot tell its number of classes")


def params_m(model: nn.Module) -> float:
    """Parameters in millions without BatchNorm affine parameters (the papers' convention)."""
    from centermask_mm.utils import count_params

    return count_params(model) / 1e6
