"""Synthetic COCO-format instance-segmentation data set ("toy shapes").

Deterministic from a seed. Each image has a textured background and 1-``max_objects``
shapes of five classes, drawn in painter's order with occlusion; every annotation is
the *visible* part of its shape, so masks stay exact after occlusion. Instance sizes
are drawn evenly over COCO's small/medium/large area ranges (32², 96² px²), scaled by
the image area relative to the default 256×256: at the default size the ranges are COCO's
absolute ones, which ``CocoMetric`` uses, so its AP_s/AP_m/AP_l are all populated.

Layout written by :func:`generate`::

    OUT/train/000000.png ...       OUT/annotations/instances_train.json
    OUT/val/000000.png ...         OUT/annotations/instances_val.json

Command line::

    python -m centermask_mm.datasets.toy --out data/toy --num-train 200 --num-val 50

``--coco-categories`` (``ToySpec.coco_categories``) writes COCO's 80 categories with their
real ids and names into the annotation files and labels the five shapes with five of them
(:data:`COCO_SHAPE_IDS`), so a model with COCO's 80 classes (a published checkpoint)
evaluates on the set unchanged; :func:`classes` gives the 80 names then.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pycocotools.mask as mask_utils
from PIL import Image, ImageDraw

CLASSES: tuple[str, ...] = ("ellipse", "rectangle", "triangle", "ring", "star")
PALETTE: list[tuple[int, int, int]] = [
    (220, 20, 60), (0, 130, 200), (60, 180, 75), (245, 130, 48), (145, 30, 180)]
METAINFO = dict(classes=CLASSES, palette=PALETTE)

#: COCO 2017's 80 categories: (id, name, supercategory), ids as in its annotation files.
COCO_CATEGORIES: tuple[tuple[int, str, str], ...] = tuple(
    (cid, name, sup) for sup, items in (
        ("person", ((1, "person"),)),
        ("vehicle", ((2, "bicycle"), (3, "car"), (4, "motorcycle"), (5, "airplane"),
                     (6, "bus"), (7, "train"), (8, "truck"), (9, "boat"))),
        ("outdoor", ((10, "traffic light"), (11, "fire hydrant"), (13, "stop sign"),
                     (14, "parking meter"), (15, "bench"))),
        ("animal", ((16, "bird"), (17, "cat"), (18, "dog"), (19, "horse"), (20, "sheep"),
                    (21, "cow"), (22, "elephant"), (23, "bear"), (24, "zebra"),
                    (25, "giraffe"))),
        ("accessory", ((27, "backpack"), (28, "umbrella"), (31, "handbag"), (32, "tie"),
                       (33, "suitcase"))),
        ("sports", ((34, "frisbee"), (35, "skis"), (36, "snowboard"), (37, "sports ball"),
                    (38, "kite"), (39, "baseball bat"), (40, "baseball glove"),
                    (41, "skateboard"), (42, "surfboard"), (43, "tennis racket"))),
        ("kitchen", ((44, "bottle"), (46, "wine glass"), (47, "cup"), (48, "fork"),
                     (49, "knife"), (50, "spoon"), (51, "bowl"))),
        ("food", ((52, "banana"), (53, "apple"), (54, "sandwich"), (55, "orange"),
                  (56, "broccoli"), (57, "carrot"), (58, "hot dog"), (59, "pizza"),
                  (60, "donut"), (61, "cake"))),
        ("furniture", ((62, "chair"), (63, "couch"), (64, "potted plant"), (65, "bed"),
                       (67, "dining table"), (70, "toilet"))),
        ("electronic", ((72, "tv"), (73, "laptop"), (74, "mouse"), (75, "remote"),
                        (76, "keyboard"), (77, "cell phone"))),
        ("appliance", ((78, "microwave"), (79, "oven"), (80, "toaster"), (81, "sink"),
                       (82, "refrigerator"))),
        ("indoor", ((84, "book"), (85, "clock"), (86, "vase"), (87, "scissors"),
                    (88, "teddy bear"), (89, "hair drier"), (90, "toothbrush"))))
    for cid, name in items)
#: COCO category id of each shape (CLASSES order) with ``coco_categories``: look-alikes,
#: chosen only so that the labels are real COCO categories.
COCO_SHAPE_IDS: tuple[int, ...] = (37, 84, 38, 60, 34)  # sports ball, book, kite, donut, frisbee

# Visible area below this fraction of the full shape is rejected when placing a new
# object, so every annotated instance is recognisable.
_MIN_VISIBLE = 0.5
# COCO's area ranges (px²) at the default 256×256 image; the upper end keeps a large
# object placeable next to others.
_AREA_BUCKETS = ((100.0, 32.0**2), (32.0**2, 96.0**2), (96.0**2, 180.0**2 * 0.6))
_DEFAULT_AREA = 256 * 256


@dataclass(frozen=True)
class ToySpec:
    """Parameters of a toy data set; ``fingerprint`` identifies its content."""

    num_train: int = 200
    num_val: int = 50
    height: int = 256
    width: int = 256
    max_objects: int = 6
    seed: int = 0
    coco_categories: bool = False

    def fields(self) -> dict[str, int | bool]:
        """The spec as written to ``SPEC.json``; ``coco_categories`` only when set, so the
        default set keeps the fingerprint it had before the option existed."""
        out = dict(self.__dict__)
        if not self.coco_categories:
            del out["coco_categories"]
        return out

    @property
    def fingerprint(self) -> str:
        return hashlib.sha1(json.dumps(self.fields(), sort_keys=True).encode()).hexdigest()[:12]


def classes(spec: ToySpec) -> tuple[str, ...]:
    """Class names of the set ``spec`` makes, in label order: the five shapes, or COCO's 80
    names (mmdet's ``CocoDataset`` order, which is COCO's id order) with ``coco_categories``."""
    return tuple(name for _, name, _ in COCO_CATEGORIES) if spec.coco_categories else CLASSES


def _categories(spec: ToySpec) -> list[dict]:
    if spec.coco_categories:
        return [dict(id=cid, name=name, supercategory=sup) for cid, name, sup in COCO_CATEGORIES]
    return [dict(id=i + 1, name=c, supercategory="shape") for i, c in enumerate(CLASSES)]


def _shape_mask(cls: str, cx: float, cy: float, side: float, angle: float, h: int, w: int,
                rng: np.random.Generator) -> np.ndarray:
    """Binary (h, w) mask of one shape centred at (cx, cy) with bounding size ~side."""
    img = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(img)
    aspect = rng.uniform(0.6, 1.0)
    a, b = side / 2, side / 2 * aspect

    def rot(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
        c, s = math.cos(angle), math.sin(angle)
        return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in points]

    if cls == "ellipse":
        n = 48
        draw.polygon(rot([(a * math.cos(t), b * math.sin(t))
                          for t in np.linspace(0, 2 * math.pi, n, endpoint=False)]), fill=1)
    elif cls == "rectangle":
        draw.polygon(rot([(-a, -b), (a, -b), (a, b), (-a, b)]), fill=1)
    elif cls == "triangle":
        draw.polygon(rot([(0, -a), (a * 0.95, a * 0.75), (-a * 0.95, a * 0.75)]), fill=1)
    elif cls == "ring":
        r_out, r_in = side / 2, side / 2 * rng.uniform(0.45, 0.6)
        draw.ellipse([cx - r_out, cy - r_out, cx + r_out, cy + r_out], fill=1)
        draw.ellipse([cx - r_in, cy - r_in, cx + r_in, cy + r_in], fill=0)
    elif cls == "star":
        pts = []
        for i in range(10):
            r = a if i % 2 == 0 else a * 0.45
            t = i * math.pi / 5 - math.pi / 2
            pts.append((r * math.cos(t), r * math.sin(t)))
        draw.polygon(rot(pts), fill=1)
    else:  # pragma: no cover - CLASSES is closed
        raise ValueError(f"unknown toy class {cls!r}")
    return np.asarray(img, dtype=bool)


def _texture(h: int, w: int, colour: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(h, w, 3) uint8 fill: flat, striped or noisy around ``colour``."""
    kind = rng.integers(3)
    base = np.broadcast_to(colour.astype(np.float32), (h, w, 3)).copy()
    if kind == 1:
        yy, xx = np.mgrid[0:h, 0:w]
        period, theta = rng.uniform(4, 10), rng.uniform(0, math.pi)
        stripes = np.sin((xx * math.cos(theta) + yy * math.sin(theta)) * 2 * math.pi / period)
        base *= (0.8 + 0.2 * stripes)[..., None]
    elif kind == 2:
        base += rng.normal(0, 18, size=(h, w, 1))
    return np.clip(base, 0, 255).astype(np.uint8)


def _background(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    t = np.linspace(0, 1, w if rng.random() < 0.5 else h)
    grad = c0[None] * (1 - t[:, None]) + c1[None] * t[:, None]
    img = np.broadcast_to(grad[None], (h, w, 3)) if len(t) == w else np.broadcast_to(
        grad[:, None], (h, w, 3))
    img = img + rng.normal(0, 10, size=(h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def _render_image(h: int, w: int, spec: ToySpec, rng: np.random.Generator
                  ) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
    """One image and its instances as (category index, visible mask), painter's order."""
    canvas = _background(h, w, rng)
    instances: list[tuple[int, np.ndarray]] = []  # (cls, full mask) in drawing order
    visible: list[np.ndarray] = []
    n = int(rng.integers(1, spec.max_objects + 1))
    scale = h * w / _DEFAULT_AREA
    for _ in range(n):
        for _attempt in range(20):
            cls = int(rng.integers(len(CLASSES)))
            lo, hi = _AREA_BUCKETS[int(rng.integers(len(_AREA_BUCKETS)))]
            target = math.exp(rng.uniform(math.log(lo * scale), math.log(hi * scale)))
            side = min(math.sqrt(target), 0.9 * min(h, w))
            cx, cy = rng.uniform(side / 2, w - side / 2), rng.uniform(side / 2, h - side / 2)
            angle, state = rng.uniform(0, 2 * math.pi), rng.bit_generator.state
            mask = _shape_mask(CLASSES[cls], cx, cy, side, angle, h, w, rng)
            if mask.sum() < 16:
                continue
            # Refit the size once so the shape's pixel area hits the target area.
            fitted = min(side * math.sqrt(target / mask.sum()), 0.95 * min(h, w))
            rng.bit_generator.state = state  # same aspect/inner radius as the first draw
            cx = min(max(cx, fitted / 2), w - fitted / 2)
            cy = min(max(cy, fitted / 2), h - fitted / 2)
            mask = _shape_mask(CLASSES[cls], cx, cy, fitted, angle, h, w, rng)
            new_vis = [v & ~mask for v in visible]
            if all(nv.sum() >= _MIN_VISIBLE * full.sum()
                   for nv, (_, full) in zip(new_vis, instances, strict=True)):
                break
        else:
            continue  # could not place without hiding an earlier object
        colour = rng.uniform(0, 255, 3)
        canvas = np.where(mask[..., None], _texture(h, w, colour, rng), canvas)
        visible = new_vis + [mask.copy()]
        instances.append((cls, mask))
    return canvas, [(cls, vis) for (cls, _), vis in zip(instances, visible, strict=True)]


def _split(spec: ToySpec, split: str, out: Path, num: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    cat_ids = COCO_SHAPE_IDS if spec.coco_categories else tuple(range(1, len(CLASSES) + 1))
    img_dir = out / split
    img_dir.mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for i in range(num):
        img, insts = _render_image(spec.height, spec.width, spec, rng)
        name = f"{i:06d}.png"
        Image.fromarray(img).save(img_dir / name, optimize=False)
        images.append(dict(id=i + 1, file_name=name, height=spec.height, width=spec.width))
        for cls, vis in insts:
            rle = mask_utils.encode(np.asfortranarray(vis.astype(np.uint8)))
            x, y, bw, bh = (float(v) for v in mask_utils.toBbox(rle))
            rle["counts"] = rle["counts"].decode("ascii")
            annotations.append(dict(
                id=len(annotations) + 1, image_id=i + 1, category_id=cat_ids[cls],
                segmentation=rle, area=float(vis.sum()), bbox=[x, y, bw, bh], iscrowd=0))
    return dict(
        info=dict(description="centermask-mm toy shapes", version=spec.fingerprint,
                  spec=spec.fields(), split=split),
        images=images, annotations=annotations, categories=_categories(spec))


def generate(out: str | Path, spec: ToySpec | None = None) -> Path:
    """Write the toy data set under ``out``; returns ``out``. Same spec ⇒ same bytes."""
    spec = spec or ToySpec()
    out = Path(out)
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    for split, num, offset in (("train", spec.num_train, 0), ("val", spec.num_val, 1)):
        coco = _split(spec, split, out, num, seed=spec.seed * 2 + offset)
        with open(out / "annotations" / f"instances_{split}.json", "w") as f:
            json.dump(coco, f)
    (out / "SPEC.json").write_text(json.dumps(spec.fields(), sort_keys=True, indent=1))
    return out


def ensure(out: str | Path, spec: ToySpec | None = None) -> Path:
    """Generate the data set unless ``out`` already holds one made from the same spec."""
    spec = spec or ToySpec()
    out = Path(out)
    marker = out / "SPEC.json"
    if marker.exists() and json.loads(marker.read_text()) == spec.fields():
        return out
    return generate(out, spec)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="output directory")
    d = ToySpec()
    p.add_argument("--num-train", type=int, default=d.num_train)
    p.add_argument("--num-val", type=int, default=d.num_val)
    p.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), default=(d.height, d.width))
    p.add_argument("--max-objects", type=int, default=d.max_objects)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--coco-categories", action="store_true",
                   help="list COCO's 80 categories (real ids and names) and label the five "
                        "shapes with five of them (sports ball, book, kite, donut, frisbee), "
                        "for models with COCO's classes")
    a = p.parse_args(argv)
    spec = ToySpec(num_train=a.num_train, num_val=a.num_val, height=a.size[0], width=a.size[1],
                   max_objects=a.max_objects, seed=a.seed, coco_categories=a.coco_categories)
    out = ensure(a.out, spec)
    print(f"toy data set ({spec.fingerprint}) in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
