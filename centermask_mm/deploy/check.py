"""Compare an exported graph's onnxruntime outputs with PyTorch's ``CenterMask.predict``.

Used by the tests, ``tools/export_onnx.py --check`` and ``benchmarks/bench_onnx.py``. The
reference is the model's own ``data_preprocessor`` + ``predict`` on the same (already
resized) image with ``scale_factor`` 1, so boxes are in input pixels on both sides and
the masks are pasted into the input image (mmdet in ``predict``, :func:`paste_masks` for
onnxruntime).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from .runtime import paste_masks

#: Equality criteria of issue 19.
BOX_ATOL = 1e-3      # pixels
SCORE_ATOL = 1e-4
MASK_MIN_EQUAL = 0.999  # fraction of equal mask pixels


def torch_predict(model: nn.Module, image: np.ndarray) -> dict[str, np.ndarray]:
    """``CenterMask.predict`` on a (1, 3, H, W) float32 BGR image, as numpy arrays.

    Returns:
        dict: ``boxes`` (n, 4), ``scores``, ``labels``, ``mask_scores`` (n,) and
        ``masks`` (n, H, W) bool, in input pixels.
    """
    from mmdet.structures import DetDataSample

    h, w = image.shape[2:]
    meta = dict(img_shape=(h, w), ori_shape=(h, w), scale_factor=(1.0, 1.0))
    data = dict(inputs=[torch.from_numpy(np.ascontiguousarray(image[0]))],
                data_samples=[DetDataSample(metainfo=meta)])
    with torch.no_grad():
        data = model.data_preprocessor(data, False)
        res = model.predict(data["inputs"], data["data_samples"], rescale=True)[0]
    inst = res.pred_instances
    scores = inst.scores.numpy()
    return dict(boxes=inst.bboxes.numpy(), scores=scores, labels=inst.labels.numpy(),
                mask_scores=inst.mask_scores.numpy() if "mask_scores" in inst else scores,
                masks=inst.masks.numpy().astype(bool))


def calibrate_batchnorm(model: nn.Module, image: np.ndarray) -> int:
    """Give a randomly initialised model a trained model's activation scale.

    Every BatchNorm's running mean / variance is set to the statistics of its input on
    ``image`` ((1, 3, H, W) float32 BGR, through the model's ``data_preprocessor``), so the
    backbone's features have unit scale instead of the values a deep random network
    grows to (thousands and more after V-39's or HRNet's stages), where float32 rounding
    differences between two correct conv implementations become visible in absolute terms.
    The model is left in eval mode.

    Returns:
        int: Number of BatchNorm layers calibrated.
    """
    from torch.nn.modules.batchnorm import _BatchNorm

    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    momenta = [m.momentum for m in bns]
    eps = [m.eps for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: exactly this batch's statistics
        # torch refuses eps 0 (caffe-style frozen BN) in training mode; eps does not enter
        # the running statistics.
        m.eps = max(m.eps, 1e-5)
        m.train()
    data = dict(inputs=[torch.from_numpy(np.ascontiguousarray(image[0]))])
    with torch.no_grad():
        model.extract_feat(model.data_preprocessor(data, False)["inputs"])
    for m, momentum, e in zip(bns, momenta, eps, strict=True):
        m.momentum, m.eps = momentum, e
    model.eval()
    return len(bns)


def set_detection_bias(model: nn.Module, image: np.ndarray, candidates: int = 500) -> float:
    """Make a randomly initialised FCOS detect like a trained one on ``image``.

    Sets every class's ``conv_cls`` bias to one value chosen so that about ``candidates``
    (class, location) pairs of ``image`` pass ``test_cfg.fcos.score_thr``: enough for the
    top-``max_per_img`` cut to be full after NMS, and below the per-level ``nms_pre``, as
    with a trained model. (A bias that lets every pair pass puts ~10^5 float32 sigmoid
    values through each level's top-1000 cut, where exactly equal values are common and
    PyTorch's sort and ONNX TopK may keep different ones of a tie.)

    Returns:
        float: The bias.
    """
    head = model.bbox_head
    data = dict(inputs=[torch.from_numpy(np.ascontiguousarray(image[0]))])
    with torch.no_grad():
        feats = model.extract_feat(model.data_preprocessor(data, False)["inputs"])
        cls_scores = head(feats)[0]
        bias = head.conv_cls.bias.view(1, -1, 1, 1)
        free = torch.cat([(c - bias).permute(0, 2, 3, 1).reshape(-1) for c in cls_scores])
        k = min(int(candidates), free.numel())
        kth = free.topk(k).values[-1]
        thr = float(head.test_cfg.get("score_thr", 0.05))
        value = float(np.log(thr / (1 - thr)) - float(kth)) + 1e-4
        head.conv_cls.bias.fill_(value)
    return value


def compare(ort_out: dict[str, np.ndarray], ref: dict[str, np.ndarray],
            mask_thr: float = 0.5) -> dict[str, Any]:
    """Compare onnxruntime outputs (graph outputs, masks 28 x 28) with :func:`torch_predict`.

    Returns:
        dict: ``n`` (detections, PyTorch / onnxruntime), ``reordered`` (detections that
        left NMS in another order: scores within float noise, paired by label and box),
        ``max_box_err`` (px), ``max_score_err``, ``max_mask_score_err``, ``labels_equal``,
        ``mask_equal_frac`` (over all pasted pixels) and ``equal`` (every criterion of
        issue 19 met).
    """
    h, w = ref["masks"].shape[1:] if ref["masks"].ndim == 3 else (0, 0)
    n_ref, n_ort = len(ref["scores"]), len(ort_out["scores"])
    report: dict[str, Any] = dict(n=(n_ref, n_ort))
    if n_ref != n_ort:
        report["equal"] = False
        return report
    if n_ref == 0:
        report.update(reordered=0, max_box_err=0.0, max_score_err=0.0,
                      max_mask_score_err=0.0, labels_equal=True, mask_equal_frac=1.0,
                      equal=True)
        return report
    # Detections whose scores differ by float noise may leave NMS in either order: pair
    # each PyTorch detection with the onnxruntime one of the same label and nearest box.
    order = _match(ort_out, ref)
    report["reordered"] = None if order is None else int((order != np.arange(n_ref)).sum())
    if order is None:
        report["equal"] = False
        return report
    ort_out = {k: v[order] for k, v in ort_out.items()}
    masks = paste_masks(ort_out["masks"], ort_out["boxes"], h, w, mask_thr)
    report.update(
        max_box_err=float(np.abs(ort_out["boxes"] - ref["boxes"]).max()),
        max_score_err=float(np.abs(ort_out["scores"] - ref["scores"]).max()),
        max_mask_score_err=float(np.abs(ort_out["mask_scores"] - ref["mask_scores"]).max()),
        labels_equal=bool((ort_out["labels"] == ref["labels"]).all()),
        mask_equal_frac=float((masks == ref["masks"]).mean()),
    )
    report["equal"] = bool(report["max_box_err"] <= BOX_ATOL
                           and report["max_score_err"] <= SCORE_ATOL
                           and report["max_mask_score_err"] <= SCORE_ATOL
                           and report["labels_equal"]
                           and report["mask_equal_frac"] >= MASK_MIN_EQUAL)
    return report


def _match(ort_out: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> np.ndarray | None:
    """Index into ``ort_out`` for every reference detection (same label, nearest box,
    each used once), or None when some reference detection has no partner."""
    n = len(ref["scores"])
    free = np.ones(n, dtype=bool)
    order = np.empty(n, dtype=np.int64)
    for i in range(n):
        cand = np.flatnonzero(free & (ort_out["labels"] == ref["labels"][i]))
        if cand.size == 0:
            return None
        dist = np.abs(ort_out["boxes"][cand] - ref["boxes"][i]).max(axis=1)
        j = int(cand[dist.argmin()])
        if i in cand and dist[cand == i][0] <= dist.min():
            j = i  # the same position on a tie: the usual, unpermuted case
        order[i] = j
        free[j] = False
    return order


def compare_with_predict(model: nn.Module, onnx_file, shape, seed: int = 0,
                         num_threads: int | None = None) -> dict[str, Any]:
    """Run ``onnx_file`` and ``model.predict`` on one random (H, W) = ``shape`` image."""
    from .runtime import OnnxCenterMask

    rng = np.random.default_rng(seed)
    image = (rng.random((1, 3, *shape), dtype=np.float32) * 255).astype(np.float32)
    runner = OnnxCenterMask(onnx_file, num_threads=num_threads)
    return compare(runner.run_raw(image), torch_predict(model, image),
                   float(runner.meta.get("mask_thr_binary", 0.5)))
