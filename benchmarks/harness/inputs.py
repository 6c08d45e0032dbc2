"""Synthetic batches in the form mmdet's data pipeline hands to ``test_step`` / ``train_step``.

An image is a ``uint8`` (3, H, W) tensor as ``PackDetInputs`` produces it, so the model's
own ``DetDataPreprocessor`` (device copy, BGR->RGB, normalisation, padding to the size
divisor) runs inside the timed region, as in mmdet's ``benchmark.py``. ``H, W`` is the
resized network input (``img_shape``); ``ori_shape`` is where masks are pasted back.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch


def _check_shape(shape: Sequence[int], what: str = "shape") -> tuple[int, int]:
    if len(shape) != 2 or any(int(v) < 32 for v in shape):
        raise ValueError(f"{what} must be (H, W) with both sides >= 32 pixels, got {shape}")
    return int(shape[0]), int(shape[1])


def image_metainfo(shape: Sequence[int], ori_shape: Sequence[int] | None = None,
                   img_id: int = 0) -> dict[str, Any]:
    """Metainfo of one resized image as mmdet's test pipeline records it.

    Args:
        shape (Sequence[int]): (H, W) of the network input before padding.
        ori_shape (Sequence[int], optional): (H, W) of the original image; defaults to
            ``shape`` (no resize, masks pasted at the input resolution).
        img_id (int): Image id.

    Returns:
        dict: ``img_id``, ``img_path``, ``img_shape``, ``ori_shape`` and ``scale_factor``
        as (w_scale, h_scale).
    """
    h, w = _check_shape(shape)
    oh, ow = _check_shape(ori_shape, "ori_shape") if ori_shape is not None else (h, w)
    return dict(img_id=img_id, img_path=f"synthetic_{img_id}.jpg", img_shape=(h, w),
                ori_shape=(oh, ow), scale_factor=(w / ow, h / oh))


def inference_batch(shape: Sequence[int], ori_shape: Sequence[int] | None = None,
                    seed: int = 0) -> dict[str, list]:
    """One image for ``model.test_step``: ``{'inputs': [uint8 (3,H,W)], 'data_samples': [...]}``.

    ``test_step`` writes its predictions into the data samples, so build a fresh batch per
    call (:func:`fresh`).
    """
    from mmdet.structures import DetDataSample

    h, w = _check_shape(shape)
    gen = torch.Generator().manual_seed(seed)
    img = torch.randint(0, 256, (3, h, w), generator=gen, dtype=torch.uint8)
    sample = DetDataSample(metainfo=image_metainfo((h, w), ori_shape))
    return {"inputs": [img], "data_samples": [sample]}


def fresh(batch: dict[str, list]) -> dict[str, list]:
    """A copy of ``batch`` with new data samples (same metainfo, no predictions)."""
    from mmdet.structures import DetDataSample

    samples = [DetDataSample(metainfo=dict(s.metainfo)) for s in batch["data_samples"]]
    for new, old in zip(samples, batch["data_samples"], strict=True):
        if "gt_instances" in old:
            new.gt_instances = old.gt_instances
    return {"inputs": list(batch["inputs"]), "data_samples": samples}


def training_batch(shape: Sequence[int], batch_size: int = 2, num_classes: int = 80,
                   num_gt: int = 8, seed: int = 0) -> dict[str, list]:
    """Images with random GT boxes, labels and box-filling masks for ``model.train_step``.

    Boxes have sides between 1/8 and 1/2 of the image, so every FPN level gets objects.

    Args:
        shape (Sequence[int]): (H, W) of every image.
        batch_size (int): Images in the batch.
        num_classes (int): Labels are drawn from ``[0, num_classes)``.
        num_gt (int): Objects per image.
        seed (int): Random seed.

    Returns:
        dict: ``inputs`` (list of uint8 (3, H, W)) and ``data_samples`` with
        ``gt_instances`` (``bboxes`` (n, 4) float, ``labels`` (n,), ``masks`` BitmapMasks).
    """
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData

    h, w = _check_shape(shape)
    if batch_size < 1 or num_gt < 1:
        raise ValueError(f"batch_size and num_gt must be >= 1, got {batch_size}, {num_gt}")
    rng = np.random.default_rng(seed)
    inputs, samples = [], []
    for i in range(batch_size):
        inputs.append(torch.from_numpy(rng.integers(0, 256, (3, h, w), dtype=np.uint8)))
        bw = rng.uniform(w / 8, w / 2, num_gt)
        bh = rng.uniform(h / 8, h / 2, num_gt)
        x1 = rng.uniform(0, w - bw)
        y1 = rng.uniform(0, h - bh)
        boxes = np.stack([x1, y1, x1 + bw, y1 + bh], axis=1).astype(np.float32)
        masks = np.zeros((num_gt, h, w), dtype=np.uint8)
        for j, (a, b, c, d) in enumerate(boxes.round().astype(int)):
            masks[j, b:d, a:c] = 1
        gt = InstanceData()
        gt.bboxes = torch.from_numpy(boxes)
        gt.labels = torch.from_numpy(rng.integers(0, num_classes, num_gt)).long()
        gt.masks = BitmapMasks(masks, h, w)
        sample = DetDataSample(metainfo=image_metainfo((h, w), img_id=i))
        sample.gt_instances = gt
        samples.append(sample)
    return {"inputs": inputs, "data_samples": samples}
