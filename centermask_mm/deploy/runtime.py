"""Run an exported CenterMask with onnxruntime: image file in, mmdet results out.

:class:`OnnxCenterMask` reads the ``.onnx`` file written by
:func:`centermask_mm.deploy.export_onnx` (its metadata says the test resize, the class
names and the input shape), and for one image:

1. reads it as BGR (``mmcv.imread``, as mmdet's ``LoadImageFromFile``);
2. resizes it as the config's test pipeline ``Resize`` does (``mmcv.imrescale`` for
   ``keep_ratio=True``, ``mmcv.imresize`` otherwise, with its ``backend`` and
   ``interpolation``: PIL bilinear in the configs that mirror centermask2). A graph
   exported with a fixed ``--shape H W`` then gets a letterboxed input: the resized image
   is scaled down further, keeping its ratio, if it does not fit in H x W, and padded at
   the bottom/right to H x W with the colour that normalises to 0 (mmdet's own padding
   value). Then the outputs equal ``CenterMask.predict`` exactly when the resized image is
   H x W; otherwise the only differences are that boxes are clipped to H x W instead of
   the image and Eq. 2 uses the area H x W. A ``--dynamic`` graph gets the resized image
   as it is;
3. runs the graph and maps the boxes to the original image as ``predict(rescale=True)``
   does: divided by the resize factors (``'mmdet'`` post-processing; also clipped to the
   image when letterboxed), or multiplied by original / input size and clipped
   (``'centermask2'``); then pastes the 28 x 28 masks into those boxes with
   :func:`paste_masks`.

:func:`paste_masks` is mmdet's ``FCNMaskHead`` paste (bilinear ``grid_sample`` of each
mask into its box, per-box window, then ``>= mask_thr_binary``) in numpy.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .export import META_KEY


def paste_masks(masks: np.ndarray, boxes: np.ndarray, img_h: int, img_w: int,
                threshold: float = 0.5) -> np.ndarray:
    """Paste box-relative mask probabilities into a full image.

    The same arithmetic as mmdet's ``_do_paste_mask`` on CPU (float32): for every box,
    the pixel window ``[floor(x1) - 1, ceil(x2) + 1) x [floor(y1) - 1, ceil(y2) + 1)``
    (clipped to the image) samples the S x S mask bilinearly at the pixel centres, with
    zeros outside the mask (``grid_sample(align_corners=False, padding_mode='zeros')``).

    Args:
        masks (np.ndarray): (N, S, S) probabilities.
        boxes (np.ndarray): (N, 4) x1y1x2y2 in the target image's pixels.
        img_h (int): Target height.
        img_w (int): Target width.
        threshold (float): Binarise with ``p >= threshold``; a negative threshold
            returns uint8 ``round-down(p * 255)`` instead (mmdet's soft masks).

    Returns:
        np.ndarray: (N, img_h, img_w) bool (uint8 for a negative threshold).
    """
    masks = np.asarray(masks, dtype=np.float32)
    boxes = np.asarray(boxes, dtype=np.float32)
    n = masks.shape[0]
    out = np.zeros((n, img_h, img_w), dtype=bool if threshold >= 0 else np.uint8)
    if n == 0:
        return out
    size_h, size_w = masks.shape[1:]
    one, two, half = np.float32(1), np.float32(2), np.float32(0.5)
    for i in range(n):
        x0, y0, x1, y1 = boxes[i]
        x0_int = max(int(np.floor(x0)) - 1, 0)
        y0_int = max(int(np.floor(y0)) - 1, 0)
        x1_int = min(int(np.ceil(x1)) + 1, img_w)
        y1_int = min(int(np.ceil(y1)) + 1, img_h)
        if x1_int <= x0_int or y1_int <= y0_int:
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            gx = (np.arange(x0_int, x1_int, dtype=np.float32) + half - x0) / (x1 - x0) * two - one
            gy = (np.arange(y0_int, y1_int, dtype=np.float32) + half - y0) / (y1 - y0) * two - one
        gx[np.isinf(gx)] = 0
        gy[np.isinf(gy)] = 0
        # grid_sample's unnormalisation for align_corners=False, as ATen writes it.
        ix = (gx + one) * np.float32(size_w / 2) - half
        iy = (gy + one) * np.float32(size_h / 2) - half
        pasted = _bilinear_zeros(masks[i], iy, ix)
        if threshold >= 0:
            out[i, y0_int:y1_int, x0_int:x1_int] = pasted >= threshold
        else:
            out[i, y0_int:y1_int, x0_int:x1_int] = (pasted * 255).astype(np.uint8)
    return out


def _bilinear_zeros(img: np.ndarray, iy: np.ndarray, ix: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``img`` (h, w) on the grid ``iy`` x ``ix``, zeros outside
    (ATen's CPU ``grid_sample`` kernel: weights from the fractional parts, corners summed
    nw, ne, sw, se)."""
    h, w = img.shape
    x0 = np.floor(ix)
    y0 = np.floor(iy)
    fx = ix - x0
    fy = iy - y0
    ex = np.float32(1) - fx
    sy = np.float32(1) - fy
    # Zero border of width 1: a corner outside the mask reads 0 (indices are clipped
    # into the border, so corners further out read 0 too).
    padded = np.zeros((h + 2, w + 2), dtype=np.float32)
    padded[1:-1, 1:-1] = img
    xa = np.clip(x0 + 1, 0, w + 1).astype(np.int64)[None, :]
    xb = np.clip(x0 + 2, 0, w + 1).astype(np.int64)[None, :]
    ya = np.clip(y0 + 1, 0, h + 1).astype(np.int64)[:, None]
    yb = np.clip(y0 + 2, 0, h + 1).astype(np.int64)[:, None]
    ex, fx = ex[None, :], fx[None, :]
    sy, fy = sy[:, None], fy[:, None]
    out = padded[ya, xa] * (sy * ex)
    out = out + padded[ya, xb] * (sy * fx)
    out = out + padded[yb, xa] * (fy * ex)
    out = out + padded[yb, xb] * (fy * fx)
    return out


class OnnxCenterMask:
    """A CenterMask ONNX file run by onnxruntime (CPU).

    Args:
        onnx_file (str | Path): File written by ``tools/export_onnx.py``.
        num_threads (int, optional): onnxruntime ``intra_op_num_threads`` (None: its
            default, all cores).
        optimization (str): Graph optimisation level: ``'all'`` (default), ``'extended'``,
            ``'basic'`` or ``'none'``.

    Attributes:
        meta (dict): The file's ``centermask.meta`` (class names, resize, input shape).
        session (onnxruntime.InferenceSession): The session.
    """

    def __init__(self, onnx_file: str | os.PathLike, num_threads: int | None = None,
                 optimization: str = "all") -> None:
        import onnxruntime as ort

        self.onnx_file = Path(onnx_file)
        if not self.onnx_file.is_file():
            raise FileNotFoundError(f"OnnxCenterMask: no ONNX file {self.onnx_file}")
        levels = {"all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
                  "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                  "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                  "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL}
        if optimization not in levels:
            raise ValueError(f"OnnxCenterMask: optimization={optimization!r} is not one of "
                             f"{sorted(levels)}")
        opts = ort.SessionOptions()
        opts.graph_optimization_level = levels[optimization]
        if num_threads is not None:
            opts.intra_op_num_threads = int(num_threads)
            opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(self.onnx_file), sess_options=opts,
                                            providers=["CPUExecutionProvider"])
        raw = self.session.get_modelmeta().custom_metadata_map.get(META_KEY)
        if raw is None:
            raise ValueError(f"OnnxCenterMask: {self.onnx_file} has no '{META_KEY}' metadata; "
                             "export it with tools/export_onnx.py")
        self.meta: dict[str, Any] = json.loads(raw)

    # -- raw graph ----------------------------------------------------------------------
    def run_raw(self, image: np.ndarray) -> dict[str, np.ndarray]:
        """Run the graph on a (1, 3, H, W) float32 BGR array: the five named outputs."""
        names = [o.name for o in self.session.get_outputs()]
        outs = self.session.run(names, {"image": np.ascontiguousarray(image, np.float32)})
        return dict(zip(names, outs, strict=True))

    # -- image in, results out ------------------------------------------------------------
    def prepare(self, img: np.ndarray) -> tuple[np.ndarray, dict]:
        """Resize (and letterbox) an (h, w, 3) BGR image: the graph input and its metainfo
        (``ori_shape``, ``img_shape``, ``scale_factor`` (w, h), ``letterboxed``)."""
        import mmcv

        ori_h, ori_w = img.shape[:2]
        resize = self.meta.get("resize") or {}
        scale = resize.get("scale")
        how = dict(interpolation=resize.get("interpolation", "bilinear"),
                   backend=resize.get("backend", "cv2"))
        if scale is not None:
            if resize.get("keep_ratio", True):
                img = mmcv.imrescale(img, tuple(scale), **how)
            else:
                img = mmcv.imresize(img, tuple(scale), **how)
        fixed = self.meta.get("input_shape") or [None, None]
        letterboxed = False
        if fixed[0] is not None and tuple(img.shape[:2]) != tuple(fixed):
            fh, fw = int(fixed[0]), int(fixed[1])
            h, w = img.shape[:2]
            if h > fh or w > fw:
                img = mmcv.imrescale(img, min(fh / h, fw / w), **how)
                img = img[:fh, :fw]
            h, w = img.shape[:2]
            canvas = np.empty((fh, fw, 3), dtype=np.float32)
            canvas[...] = np.asarray(self.meta.get("pad_bgr", [0, 0, 0]), np.float32)
            canvas[:h, :w] = img
            img, letterboxed = canvas, True
        else:
            h, w = img.shape[:2]
        meta = dict(ori_shape=(ori_h, ori_w), img_shape=(h, w),
                    scale_factor=(w / ori_w, h / ori_h), letterboxed=letterboxed)
        tensor = np.ascontiguousarray(img.astype(np.float32).transpose(2, 0, 1)[None])
        return tensor, meta

    def __call__(self, image: str | os.PathLike | np.ndarray):
        """Detect and segment one image (a file path or an (h, w, 3) BGR uint8 array).

        Returns:
            DetDataSample: ``pred_instances`` with ``bboxes`` (n, 4) float32 in
            original-image pixels, ``scores`` (n,), ``labels`` (n,) int64, ``masks`` (n, h,
            w) bool (``>= mask_thr_binary``) and ``mask_scores`` (n,); torch tensors, as
            ``CenterMask.predict`` gives them. Metainfo: ``ori_shape``, ``img_shape``,
            ``scale_factor``, ``img_path`` (for a file).
        """
        import mmcv
        import torch
        from mmdet.structures import DetDataSample
        from mmengine.structures import InstanceData

        path = None
        if not isinstance(image, np.ndarray):
            path = str(image)
            if not Path(path).is_file():
                raise FileNotFoundError(f"OnnxCenterMask: no image {path}")
            image = mmcv.imread(path, channel_order="bgr")
        tensor, meta = self.prepare(image)
        outs = self.run_raw(tensor)
        ori_h, ori_w = meta["ori_shape"]
        boxes = outs["boxes"].astype(np.float32)
        if self.meta.get("postprocess") == "centermask2":
            # centermask2's detector_postprocess: scale by output / input size, clip.
            in_h, in_w = meta["img_shape"]
            boxes[:, 0::2] *= np.float32(ori_w / in_w)
            boxes[:, 1::2] *= np.float32(ori_h / in_h)
            clip = True
        else:
            # mmdet's rescale: divide by the resize factors (FCNMaskHead, in place).
            sw, sh = meta["scale_factor"]
            boxes = boxes / np.array([sw, sh, sw, sh], np.float32)
            clip = meta["letterboxed"]
        if clip:
            boxes[:, 0::2] = boxes[:, 0::2].clip(0, ori_w)
            boxes[:, 1::2] = boxes[:, 1::2].clip(0, ori_h)
        masks = paste_masks(outs["masks"], boxes, ori_h, ori_w,
                            float(self.meta.get("mask_thr_binary", 0.5)))
        inst = InstanceData()
        inst.bboxes = torch.from_numpy(boxes)
        inst.scores = torch.from_numpy(outs["scores"].astype(np.float32))
        inst.labels = torch.from_numpy(outs["labels"].astype(np.int64))
        inst.masks = torch.from_numpy(masks)
        inst.mask_scores = torch.from_numpy(outs["mask_scores"].astype(np.float32))
        sample = DetDataSample(metainfo=dict(
            ori_shape=meta["ori_shape"], img_shape=meta["img_shape"],
            scale_factor=meta["scale_factor"], img_path=path))
        sample.pred_instances = inst
        return sample
