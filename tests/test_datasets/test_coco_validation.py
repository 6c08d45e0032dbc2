"""Corrupt or inconsistent annotation files fail loudly, naming the file and record."""
from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest
from mmdet.registry import DATASETS

import centermask_mm  # noqa: F401
from centermask_mm.datasets import TOY_METAINFO, AnnotationError, validate_coco


def _write(path: Path, coco: dict) -> Path:
    path.write_text(json.dumps(coco))
    return path


@pytest.fixture()
def good(tiny_toy: Path) -> dict:
    return json.loads((tiny_toy / "annotations" / "instances_val.json").read_text())


def test_generated_files_validate(tiny_toy: Path) -> None:
    for split in ("train", "val"):
        validate_coco(tiny_toy / "annotations" / f"instances_{split}.json", tiny_toy / split)


@pytest.mark.parametrize("mutate, needle", [
    (lambda c: c["annotations"][1].update(category_id=42), "unknown category_id 42"),
    (lambda c: c["annotations"][1].update(image_id=999), "unknown image_id 999"),
    (lambda c: c["annotations"][1]["segmentation"].update(size=[10, 10]), "outside the image"),
    (lambda c: c["annotations"][1].update(segmentation=[[0, 0, 500, 0, 500, 500]]),
     "outside its"),
    (lambda c: c["annotations"][1].update(bbox=[120, 120, 50, 50]), "outside its"),
    (lambda c: c["annotations"][1].update(bbox=[1, 1, 0, 4]), "empty bbox"),
    (lambda c: c["annotations"][1].update(id=c["annotations"][0]["id"]), "duplicate annotation"),
    (lambda c: c["images"][0].pop("height"), "lacks height"),
    (lambda c: c.pop("categories"), "'categories'"),
])
def test_inconsistent_records_are_named(tmp_path: Path, good: dict, mutate, needle: str) -> None:
    coco = copy.deepcopy(good)
    mutate(coco)
    f = _write(tmp_path / "bad.json", coco)
    with pytest.raises(AnnotationError) as e:
        validate_coco(f)
    msg = str(e.value)
    assert str(f) in msg and needle in msg
    if "annotations" in msg:
        assert f"annotations[1] (id={coco['annotations'][1]['id']}" in msg


def test_missing_image_file(tmp_path: Path, tiny_toy: Path) -> None:
    shutil.copytree(tiny_toy / "val", tmp_path / "val")
    (tmp_path / "val" / "000002.png").unlink()
    with pytest.raises(AnnotationError, match=r"images\[2\] \(id=3\).*000002.png not found"):
        validate_coco(tiny_toy / "annotations" / "instances_val.json", tmp_path / "val")


@pytest.mark.parametrize("text, needle", [("", "is empty"), ("{not json", "not valid JSON"),
                                          ("[]", "top level must be an object")])
def test_unreadable_files(tmp_path: Path, text: str, needle: str) -> None:
    f = tmp_path / "ann.json"
    f.write_text(text)
    with pytest.raises(AnnotationError, match=needle):
        validate_coco(f)
    with pytest.raises(AnnotationError, match="not found"):
        validate_coco(tmp_path / "nope.json")


def _dataset_cfg(root: Path, ann_file: str) -> dict:
    return dict(type="CheckedCocoDataset", data_root=str(root), ann_file=ann_file,
                metainfo=TOY_METAINFO, data_prefix=dict(img="val/"), test_mode=True,
                pipeline=[])


def test_checked_dataset_loads_through_mmdet(tiny_toy: Path) -> None:
    ds = DATASETS.build(_dataset_cfg(tiny_toy, "annotations/instances_val.json"))
    assert len(ds) == 4
    assert ds.metainfo["classes"] == TOY_METAINFO["classes"]
    info = ds.get_data_info(0)
    assert info["instances"] and all(len(i["bbox"]) == 4 for i in info["instances"])


def test_checked_dataset_rejects_corrupt_file(tmp_path: Path, tiny_toy: Path, good: dict) -> None:
    good["annotations"][0]["category_id"] = 7
    shutil.copytree(tiny_toy / "val", tmp_path / "val")
    (tmp_path / "annotations").mkdir()
    _write(tmp_path / "annotations" / "bad.json", good)
    with pytest.raises(AnnotationError, match=r"bad.json: annotations\[0\].*category_id 7"):
        DATASETS.build(_dataset_cfg(tmp_path, "annotations/bad.json"))


@pytest.mark.parametrize("data_root, prefix", [
    ("toy/", "val/"),        # the configs' form: data_root relative to the working directory
    ("./toy", "val"),
    ("", "toy/val/"),        # no data_root: the prefix alone, relative to the working directory
])
def test_checked_dataset_with_a_relative_data_root(tiny_toy: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   data_root: str, prefix: str) -> None:
    # mmengine joins data_root onto ann_file and the image prefix before load_data_list;
    # joining it again looked for toy/toy/val/... (issue 18, item 1).
    shutil.copytree(tiny_toy, tmp_path / "toy")
    monkeypatch.chdir(tmp_path)
    ann = "annotations/instances_val.json" if data_root else "toy/annotations/instances_val.json"
    cfg = dict(_dataset_cfg(tmp_path, ann), data_root=data_root, data_prefix=dict(img=prefix))
    ds = DATASETS.build(cfg)
    assert len(ds) == 4
    path = Path(ds.get_data_info(0)["img_path"])
    assert not path.is_absolute() and path.is_file(), path


def test_checked_dataset_names_the_missing_image_as_mmdet_would_read_it(
        tiny_toy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(tiny_toy, tmp_path / "toy")
    (tmp_path / "toy" / "val" / "000001.png").unlink()
    monkeypatch.chdir(tmp_path)
    cfg = dict(_dataset_cfg(tmp_path, "annotations/instances_val.json"), data_root="toy/")
    with pytest.raises(AnnotationError, match=r"image file toy/val/000001.png not found"):
        DATASETS.build(cfg)
