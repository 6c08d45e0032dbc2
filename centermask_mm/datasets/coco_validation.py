"""Strict checks of a COCO instance annotation file.

mmdet's ``CocoDataset`` silently drops records it cannot use (unknown categories,
degenerate boxes, missing images surface only as a crash deep in a data worker).
:func:`validate_coco` instead fails fast with :class:`AnnotationError`, whose message
names the file and the record (list index and id) at fault.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# Coordinates may sit on the image border (x == width); allow one pixel of rounding.
_TOL = 1.0


class AnnotationError(ValueError):
    """A COCO annotation file is missing, malformed or inconsistent."""


def _where(kind: str, idx: int, rec: Mapping[str, Any]) -> str:
    extra = f", image_id={rec['image_id']}" if kind == "annotations" and "image_id" in rec else ""
    return f"{kind}[{idx}] (id={rec.get('id', '?')}{extra})"


def load_coco_json(ann_file: str | Path) -> dict[str, Any]:
    """Read and structurally check a COCO json; raise AnnotationError naming the file."""
    path = Path(ann_file)
    if not path.is_file():
        raise AnnotationError(f"{path}: annotation file not found")
    text = path.read_text()
    if not text.strip():
        raise AnnotationError(f"{path}: annotation file is empty")
    try:
        coco = json.loads(text)
    except json.JSONDecodeError as e:
        raise AnnotationError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}, "
                              f"column {e.colno})") from None
    if not isinstance(coco, dict):
        raise AnnotationError(f"{path}: top level must be an object, got {type(coco).__name__}")
    for key in ("images", "annotations", "categories"):
        if not isinstance(coco.get(key), list):
            raise AnnotationError(f"{path}: missing or non-list key {key!r}")
    return coco


def validate_coco(ann_file: str | Path, img_dir: str | Path | None = None) -> dict[str, Any]:
    """Validate ``ann_file`` (and, if given, that every image exists under ``img_dir``).

    Returns the parsed json. Raises :class:`AnnotationError` on the first problem:
    duplicate ids, missing image files, annotations that reference unknown images or
    categories, boxes or masks outside their image, empty boxes or masks.
    """
    path = Path(ann_file)
    coco = load_coco_json(path)
    cat_ids: set[int] = set()
    for i, cat in enumerate(coco["categories"]):
        if "id" not in cat or "name" not in cat:
            raise AnnotationError(f"{path}: {_where('categories', i, cat)} needs 'id' and 'name'")
        if cat["id"] in cat_ids:
            raise AnnotationError(f"{path}: {_where('categories', i, cat)} duplicate category id")
        cat_ids.add(cat["id"])
    images: dict[int, Mapping[str, Any]] = {}
    for i, img in enumerate(coco["images"]):
        where = _where("images", i, img)
        missing = [k for k in ("id", "file_name", "height", "width") if k not in img]
        if missing:
            raise AnnotationError(f"{path}: {where} lacks {', '.join(missing)}")
        if img["id"] in images:
            raise AnnotationError(f"{path}: {where} duplicate image id")
        if img_dir is not None and not (Path(img_dir) / img["file_name"]).is_file():
            raise AnnotationError(
                f"{path}: {where} image file {Path(img_dir) / img['file_name']} not found")
        images[img["id"]] = img
    ann_ids: set[int] = set()
    for i, ann in enumerate(coco["annotations"]):
        where = _where("annotations", i, ann)
        for key in ("id", "image_id", "category_id", "bbox"):
            if key not in ann:
                raise AnnotationError(f"{path}: {where} lacks {key!r}")
        if ann["id"] in ann_ids:
            raise AnnotationError(f"{path}: {where} duplicate annotation id")
        ann_ids.add(ann["id"])
        img = images.get(ann["image_id"])
        if img is None:
            raise AnnotationError(f"{path}: {where} refers to unknown image_id {ann['image_id']}")
        if ann["category_id"] not in cat_ids:
            raise AnnotationError(f"{path}: {where} has unknown category_id {ann['category_id']} "
                                  f"(known: {sorted(cat_ids)})")
        h, w = img["height"], img["width"]
        x, y, bw, bh = ann["bbox"]
        if bw <= 0 or bh <= 0:
            raise AnnotationError(f"{path}: {where} has an empty bbox {ann['bbox']}")
        if x < -_TOL or y < -_TOL or x + bw > w + _TOL or y + bh > h + _TOL:
            raise AnnotationError(f"{path}: {where} bbox {ann['bbox']} lies outside its "
                                  f"{w}x{h} image")
        _check_segmentation(path, where, ann.get("segmentation"), h, w)
    return coco


def _check_segmentation(path: Path, where: str, seg: Any, h: int, w: int) -> None:
    if seg is None:
        return  # box-only annotation
    if isinstance(seg, dict):  # RLE
        size = list(seg.get("size", []))
        if size != [h, w]:
            raise AnnotationError(f"{path}: {where} RLE mask size {size} does not match its "
                                  f"image ({h}, {w}): the mask lies outside the image")
        if not seg.get("counts"):
            raise AnnotationError(f"{path}: {where} has an empty RLE mask")
        return
    if not isinstance(seg, list) or not seg:
        raise AnnotationError(f"{path}: {where} has an empty or malformed segmentation")
    for poly in seg:
        if not isinstance(poly, list) or len(poly) < 6 or len(poly) % 2:
            raise AnnotationError(f"{path}: {where} polygon needs an even number (>= 6) of "
                                  f"coordinates")
        xs, ys = poly[0::2], poly[1::2]
        if min(xs) < -_TOL or min(ys) < -_TOL or max(xs) > w + _TOL or max(ys) > h + _TOL:
            raise AnnotationError(f"{path}: {where} polygon mask lies outside its {w}x{h} image")
