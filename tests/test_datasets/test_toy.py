"""The synthetic toy set: deterministic, valid COCO, sizes over all COCO area ranges."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pycocotools.mask as mask_utils
import pytest
from pycocotools.coco import COCO

from centermask_mm.datasets.toy import CLASSES, ToySpec, generate, main

SPEC = ToySpec(num_train=24, num_val=6, seed=3)  # default 256x256: COCO area ranges


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("toy"), SPEC)


def test_deterministic_from_seed(toy: Path, tmp_path: Path) -> None:
    again = generate(tmp_path / "again", SPEC)
    assert _digest(toy) == _digest(again)
    other = generate(tmp_path / "other", ToySpec(**{**SPEC.__dict__, "seed": 4}))
    a, b = _digest(toy), _digest(other)
    assert a["annotations/instances_train.json"] != b["annotations/instances_train.json"]


@pytest.mark.parametrize("split", ["train", "val"])
def test_valid_coco_with_exact_masks(toy: Path, split: str) -> None:
    coco = COCO(str(toy / "annotations" / f"instances_{split}.json"))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == list(CLASSES)
    assert len(coco.getImgIds()) == (SPEC.num_train if split == "train" else SPEC.num_val)
    for ann in coco.loadAnns(coco.getAnnIds()):
        img = coco.loadImgs(ann["image_id"])[0]
        assert (toy / split / img["file_name"]).is_file()
        m = mask_utils.decode(ann["segmentation"])
        assert m.shape == (img["height"], img["width"])
        assert m.sum() > 0 and m.sum() == ann["area"]
        x, y, w, h = ann["bbox"]
        ys, xs = np.nonzero(m)
        # Mask inside its box, and the box is the mask's tight box.
        assert xs.min() == x and ys.min() == y
        assert xs.max() + 1 == x + w and ys.max() + 1 == y + h


def test_masks_stay_disjoint_after_occlusion(toy: Path) -> None:
    coco = COCO(str(toy / "annotations" / "instances_train.json"))
    for img_id in coco.getImgIds():
        masks = [mask_utils.decode(a["segmentation"]) for a in coco.imgToAnns[img_id]]
        if len(masks) > 1:
            assert np.stack(masks).sum(0).max() == 1, "visible masks overlap"


def test_sizes_cover_coco_area_ranges(toy: Path) -> None:
    coco = COCO(str(toy / "annotations" / "instances_train.json"))
    areas = np.array([a["area"] for a in coco.loadAnns(coco.getAnnIds())])
    small, large = (areas < 32**2).mean(), (areas >= 96**2).mean()
    medium = 1 - small - large
    assert min(small, medium, large) > 0.05, (small, medium, large)
    assert set(a["category_id"] for a in coco.dataset["annotations"]) == {1, 2, 3, 4, 5}


def test_cli_is_idempotent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--out", str(tmp_path), "--num-train", "2", "--num-val", "1", "--size", "64", "64"]
    assert main(args) == 0
    before = _digest(tmp_path)
    assert main(args) == 0  # same spec: kept as is
    assert _digest(tmp_path) == before
    assert "toy data set" in capsys.readouterr().out


def test_coco_categories_option(tmp_path: Path) -> None:
    """--coco-categories: COCO's 80 categories with real ids, shapes labelled with five of
    them, the same images as without the option; the default fingerprint is unchanged."""
    from mmdet.datasets import CocoDataset

    from centermask_mm.datasets.toy import COCO_SHAPE_IDS, classes

    spec = ToySpec(num_train=4, num_val=3, seed=3, coco_categories=True)
    assert ToySpec().fingerprint == "32b47f6eb0d2"  # the set every toy job was made from
    assert spec.fingerprint != ToySpec(num_train=4, num_val=3, seed=3).fingerprint
    assert main(["--out", str(tmp_path / "coco"), "--num-train", "4", "--num-val", "3",
                 "--seed", "3", "--coco-categories"]) == 0
    plain = generate(tmp_path / "plain", ToySpec(num_train=4, num_val=3, seed=3))
    coco = COCO(str(tmp_path / "coco" / "annotations" / "instances_val.json"))
    cats = coco.loadCats(coco.getCatIds())
    assert len(cats) == 80 and cats[0] == {"id": 1, "name": "person",
                                           "supercategory": "person"}
    assert cats[-1]["id"] == 90 and cats[-1]["name"] == "toothbrush"
    # mmdet's CocoDataset maps these names to labels 0..79 in this (id) order.
    assert tuple(c["name"] for c in cats) == CocoDataset.METAINFO["classes"] == classes(spec)
    base = COCO(str(plain / "annotations" / "instances_val.json"))
    anns, base_anns = coco.loadAnns(coco.getAnnIds()), base.loadAnns(base.getAnnIds())
    assert [a["category_id"] for a in anns] == [
        COCO_SHAPE_IDS[a["category_id"] - 1] for a in base_anns]
    assert [a["segmentation"] for a in anns] == [a["segmentation"] for a in base_anns]
    assert (tmp_path / "coco" / "val" / "000000.png").read_bytes() == \
        (plain / "val" / "000000.png").read_bytes()
