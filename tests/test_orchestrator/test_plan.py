"""Planning: identity hashes, dedup, data binding, and the 1,000-job speed budget."""
from __future__ import annotations

import json
import shutil
import textwrap
import time
from pathlib import Path

import pytest

from orchestrator.study.configs import apply_patch, config_hash
from orchestrator.study.data import Dataset, annotation_files, bind, image_dirs, manifest
from orchestrator.study.identity import CodeFingerprint, config_types, job_id
from orchestrator.study.plan import expected_job_hashes, plan_study
from orchestrator.study.reader import load_study

from .conftest import FAKE_CONFIG

STUDY = """
name: {name}
base: {base}
data: none
axes:
  lr:
    {levels}
seeds: [0]
"""


def plan_of(write_study, tmp_path, repo_root, name: str, base: str, levels: str, file: str):
    study = load_study(write_study(STUDY.format(name=name, base=base, levels=levels), file))
    return plan_study(study, None, workspace=tmp_path / "ws", repo_root=repo_root)


def test_same_resolved_config_in_two_studies_is_one_job(write_study, tmp_path, repo_root):
    # Study A runs fake_config.py as is; study B starts from a config that inherits it with
    # another lr and patches the lr back: the resolved configs are equal, so is the job.
    a = plan_of(write_study, tmp_path, repo_root, "a", FAKE_CONFIG, "base: {}", "a.yaml")
    b = plan_of(write_study, tmp_path, repo_root, "b", FAKE_CONFIG.replace(".py", "_lr05.py"),
                "lr05: {}\n    lr001: {optim_wrapper.optimizer.lr: 0.01}", "b.yaml")
    assert a.jobs[0].job_id == b.jobs[1].job_id != b.jobs[0].job_id
    assert b.jobs[1].diff == [("optim_wrapper.optimizer.lr", 0.5, 0.01)]


def test_identity_depends_on_seed_data_and_code(tmp_path):
    manifest_a = {"dataset": "toy:x", "annotations": {"train": "aa"}}
    manifest_b = {"dataset": "toy:x", "annotations": {"train": "ab"}}
    base = job_id("c" * 64, 0, manifest_a, "code1")
    assert base == job_id("c" * 64, 0, manifest_a, "code1") and len(base) == 16
    assert base != job_id("c" * 64, 1, manifest_a, "code1")
    assert base != job_id("c" * 64, 0, manifest_b, "code1")
    assert base != job_id("c" * 64, 0, manifest_a, "code2")
    assert base != job_id("d" * 64, 0, manifest_a, "code1")


def _package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    return root


def test_code_fingerprint_covers_the_modules_a_config_reaches(tmp_path):
    """Registered types -> their modules -> the package modules those import, statically."""
    pkg = _package(tmp_path / "pkg", {
        "__init__.py": "from . import heads, other  # registers everything\n",
        "heads/__init__.py": "from .head import Head\nfrom .unused import Unused\n",
        "heads/head.py": """
            from mmdet.registry import MODELS
            from pkg.layers import conv
            from ..util import helper
            @MODELS.register_module()
            class Head:
                pass
            """,
        "heads/unused.py": "from mmdet.registry import MODELS\n"
                           "@MODELS.register_module(name='Renamed')\nclass Unused: pass\n",
        "layers/__init__.py": "from .conv import conv\nfrom .big import big\n",
        "layers/conv.py": "def conv(): return 1\n",
        "layers/big.py": "def big(): return 2\n",
        "util.py": "def helper(): return 0\n",
        "other.py": "from mmdet.registry import DATASETS\n"
                    "@DATASETS.register_module()\nclass Other: pass\n",
        "notes.txt": "not code",
    })
    cfg = {"model": {"type": "Head", "neck": {"type": "mmdet.FPN"}},
           "train_dataloader": {"dataset": {"type": "CocoDataset"}}}
    assert config_types(cfg) == {"Head", "mmdet.FPN", "CocoDataset"}
    fp = CodeFingerprint.of(pkg)
    assert fp.files(cfg) == ["heads/head.py", "layers/conv.py", "util.py"]
    assert fp.files({"model": {"type": "mmdet.Renamed"}}) == ["heads/unused.py"]
    before = fp(cfg)
    assert len(before) == 16 and fp(cfg) == before
    for name in ("__init__.py", "heads/__init__.py", "heads/unused.py", "layers/big.py",
                 "other.py", "notes.txt"):  # code the config does not reach
        (pkg / name).write_text((pkg / name).read_text() + "\nEDITED = 1\n")
        assert CodeFingerprint.of(pkg)(cfg) == before, name
    for name in ("heads/head.py", "layers/conv.py", "util.py"):  # code it reaches
        path = pkg / name
        # Prose is not code: a comment, a docstring, blank lines change nothing...
        path.write_text('"""A new module docstring."""\n\n' + path.read_text() + "\n# a note\n")
        assert CodeFingerprint.of(pkg)(cfg) == before, name
        # ...a statement does.
        path.write_text(path.read_text() + "EDITED = 1\n")
        after = CodeFingerprint.of(pkg)(cfg)
        assert after != before, name
        before = after
    assert CodeFingerprint(fp.index, {"mmdet": "9.9"})(cfg) != CodeFingerprint(
        fp.index, {"mmdet": "3.3.0"})(cfg)  # the library's version stands for its code


def test_editing_model_code_changes_exactly_the_jobs_that_use_it(tmp_path, repo_root, tiny_toy,
                                                                 monkeypatch):
    """A CenterMask study's plan ids: unchanged by an edit of the SAIS head, changed by an
    edit of the CenterMask RoI head (on a copy of the plugin package)."""
    monkeypatch.setenv("CM_TOY_ROOT", str(tiny_toy))
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copytree(repo_root / "centermask_mm", root / "centermask_mm",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (root / "configs").symlink_to(repo_root / "configs")
    study = load_study(_package(tmp_path, {"s.yaml": """
        name: code-edit
        base: configs/centermask/toy/centermask-lite_v2-19-slim-dw_fpn_toy.py
        data: toy
        axes:
          backbone:
            dw: {}
            plain: {model.backbone.arch: V-19-slim}
        """}) / "s.yaml")

    def ids() -> list[str]:
        plan = plan_study(study, None, workspace=tmp_path / "ws", repo_root=root,
                          validate_build=False)
        return [j.job_id for j in plan.jobs]

    def edit(rel: str, text: str = "\nEDITED = 1\n") -> None:
        path = root / "centermask_mm" / rel
        path.write_text(path.read_text() + text)

    first = ids()
    assert len(set(first)) == 2
    edit("models/dense_heads/sais_head.py")  # SAIS only
    assert ids() == first
    edit("models/roi_heads/centermask_roi_head.py", "\n# a comment is not code\n")
    assert ids() == first
    edit("models/roi_heads/centermask_roi_head.py")  # every CenterMask job
    second = ids()
    assert all(a != b for a, b in zip(first, second, strict=True))


def test_config_hash_ignores_key_order_and_volatile_keys():
    a = {"model": {"x": 1, "y": (1, 2)}, "work_dir": "/a"}
    b = {"work_dir": "/b", "model": {"y": [1, 2], "x": 1}}
    assert config_hash(a) == config_hash(b)
    assert config_hash(a) != config_hash({"model": {"x": 2, "y": (1, 2)}})


def test_patch_is_copy_on_write_and_keeps_tuples():
    base = {"a": {"b": {"c": 1}, "s": (1, 2)}, "p": [{"scale": (3, 4)}, {"k": 0}],
            "other": {"big": [1, 2, 3]}}
    new, issues = apply_patch(base, {"a.b.c": 2, "a.s": [5, 6], "p.0.scale": [7, 8],
                                     "a.b": {"+d": 3}})
    assert not issues
    assert base["a"]["b"] == {"c": 1} and base["p"][0]["scale"] == (3, 4)  # untouched
    assert new["a"]["b"] == {"c": 2, "d": 3}
    assert new["a"]["s"] == (5, 6) and isinstance(new["p"][0]["scale"], tuple)
    assert new["other"] is base["other"]  # untouched subtrees are shared, not copied
    replaced, issues = apply_patch(base, {"a.b": {"_delete_": True, "z": 9}})
    assert not issues and replaced["a"]["b"] == {"z": 9}


def test_bind_points_a_coco_config_at_the_toy_set(tmp_path):
    coco_like = {
        "model": {"roi_head": {"bbox_head": {"num_classes": 80},
                               "mask_head": {"num_classes": 80}}},
        "train_dataloader": {"dataset": {"type": "CocoDataset", "data_root": "data/coco/",
                                         "ann_file": "annotations/instances_train2017.json",
                                         "data_prefix": {"img": "train2017/"}}},
        "val_dataloader": {"dataset": {"type": "CocoDataset", "data_root": "data/coco/",
                                       "ann_file": "annotations/instances_val2017.json",
                                       "data_prefix": {"img": "val2017/"}}},
        "val_evaluator": {"type": "CocoMetric",
                          "ann_file": "data/coco/annotations/instances_val2017.json"},
    }
    toy = Dataset("toy", tmp_path / "toy", "toy:abc", "", ("a", "b"))
    out = bind(coco_like, toy)
    ds = out["train_dataloader"]["dataset"]
    assert ds["data_root"] == f"{tmp_path}/toy/" and ds["ann_file"].endswith("instances_train.json")
    assert ds["metainfo"]["classes"] == ("a", "b") and ds["data_prefix"] == {"img": "train/"}
    assert out["val_evaluator"]["ann_file"] == f"{tmp_path}/toy/annotations/instances_val.json"
    assert out["model"]["roi_head"]["mask_head"]["num_classes"] == 2
    assert coco_like["model"]["roi_head"]["mask_head"]["num_classes"] == 80
    # COCO at another root: roots move, everything else stays.
    coco = Dataset("coco", tmp_path / "coco", "coco", "")
    out = bind(coco_like, coco)
    assert out["val_evaluator"]["ann_file"] == (
        f"{tmp_path}/coco/annotations/instances_val2017.json")
    assert out["model"] == coco_like["model"]
    # The manifest hashes the annotation files (which must exist and be valid COCO files).
    ann = tmp_path / "coco" / "annotations"
    ann.mkdir(parents=True)

    def write_ann(split: str, note: str) -> None:
        (ann / f"instances_{split}2017.json").write_text(json.dumps({
            "info": {"note": note}, "images": [], "annotations": [],
            "categories": [{"id": 1, "name": "a"}]}))

    for split in ("train", "val"):
        write_ann(split, split)
    m = manifest(out, coco, tmp_path / "cache.json")
    assert m["dataset"] == "coco" and set(m["annotations"]) == {"train", "val"}
    write_ann("val", "edited")
    assert manifest(out, coco, tmp_path / "cache.json")["annotations"]["val"] != (
        m["annotations"]["val"])


def test_annotation_files_and_image_dirs_of_a_bound_config():
    # Relative names are under the innermost dataset's data_root (through a wrapper);
    # absolute names stay; a split without a dataset dict or an annotation file has none.
    tree = {
        "train_dataloader": {"dataset": {"type": "RepeatDataset", "times": 2, "dataset": {
            "data_root": "/d/", "ann_file": "a/train.json", "data_prefix": {"img": "tr/"}}}},
        "val_dataloader": {"dataset": {"data_root": "/d/", "ann_file": "/abs/val.json",
                                       "data_prefix": {"img": "/abs/img/"}}},
        "test_dataloader": {"dataset": {"data_root": "/d/", "ann_file": ""}},
        "other_dataloader": {"dataset": {"data_root": "/x/", "ann_file": "x.json"}},
    }
    assert annotation_files(tree) == {"train": Path("/d/a/train.json"),
                                      "val": Path("/abs/val.json")}
    assert image_dirs(tree) == {"train": Path("/d/tr"), "val": Path("/abs/img")}
    assert annotation_files({"train_dataloader": {"dataset": "not a dict"}}) == {}


def test_data_auto_falls_back_to_toy_loudly(tmp_path, repo_root, monkeypatch):
    from centermask_mm.datasets.toy import ToySpec
    from orchestrator.study.data import DataError, resolve_dataset

    monkeypatch.setenv("CM_COCO_ROOT", str(tmp_path / "no-coco"))
    monkeypatch.setenv("CM_TOY_ROOT", str(tmp_path / "toy"))
    spec = ToySpec(num_train=2, num_val=1, height=32, width=32, max_objects=1)
    data = resolve_dataset("auto", tmp_path / "ws", repo_root, toy_spec=spec)
    assert data.kind == "toy" and data.tag == f"toy:{spec.fingerprint}"
    assert "SYNTHETIC TOY" in data.reason and "not COCO numbers" in data.reason
    assert (tmp_path / "toy" / "annotations" / "instances_val.json").exists()
    with pytest.raises(DataError, match="data: coco, but no COCO"):
        resolve_dataset("coco", tmp_path / "ws", repo_root)
    # COCO is used when found.
    (tmp_path / "coco" / "annotations").mkdir(parents=True)
    (tmp_path / "coco" / "annotations" / "instances_val2017.json").write_text("{}")
    monkeypatch.setenv("CM_COCO_ROOT", str(tmp_path / "coco"))
    assert resolve_dataset("auto", tmp_path / "ws", repo_root).tag == "coco"


def test_expected_job_hashes_per_table_row(repo_root, tmp_path):
    hashes = expected_job_hashes(repo_root / "tests/test_orchestrator/fixtures/fake_study.yaml",
                                 workspace=tmp_path / "ws")
    assert list(hashes) == ["base"] and len(hashes["base"]) == 1


def test_thousand_job_plan_is_fast(write_study, tmp_path, repo_root):
    """1,000 jobs (10 x 10 x 10 levels), each a real resolved config with its hash: < 5 s."""
    lrs = "\n".join(f"    lr{i}: {{optim_wrapper.optimizer.lr: {0.1 * (i + 2):.1f}}}"
                    for i in range(10))
    moms = "\n".join(f"    m{i}: {{optim_wrapper.optimizer.momentum: {0.5 + 0.01 * i}}}"
                     for i in range(10))
    stds = "\n".join(f"    s{i}: {{model.std: [{i + 2}.0, 1.0, 1.0]}}" for i in range(10))
    text = (f"name: big\nbase: {FAKE_CONFIG}\ndata: none\naxes:\n  lr:\n{lrs}\n"
            f"  momentum:\n{moms}\n  std:\n{stds}\n")
    study = load_study(write_study(text))
    ws = tmp_path / "ws"
    t0 = time.perf_counter()
    plan = plan_study(study, None, workspace=ws, repo_root=repo_root)
    first = time.perf_counter() - t0
    assert len(plan.jobs) == 1000 and len({j.job_id for j in plan.jobs}) == 1000
    t0 = time.perf_counter()
    plan_study(load_study(study.path), None, workspace=ws, repo_root=repo_root)
    again = time.perf_counter() - t0
    print(f"1,000-job plan: {first:.2f} s cold (10 model builds), {again:.2f} s with the "
          f"build cache; stages {plan.seconds}")
    assert first < 5.0 and again < 5.0


def test_yaml_lists_become_tuples_at_every_depth():
    # mmcv's RandomResize rejects a list of lists where the config had a list of tuples.
    tree = {"pipeline": [{"type": "RandomResize", "scale": [(1000, 580), (1000, 600)]}]}
    new, issues = apply_patch(tree, {"pipeline.0.scale": [[1333, 640], [1333, 800]]})
    assert not issues
    assert new["pipeline"][0]["scale"] == [(1333, 640), (1333, 800)]
    assert all(type(s) is tuple for s in new["pipeline"][0]["scale"])


def test_toy_data_banner_is_framed_and_coco_is_not():
    toy = Dataset(kind="toy", root=None, tag="toy:x", reason="data: toy (not COCO numbers)")
    lines = toy.banner().splitlines()
    assert lines[1] == "!! data: toy (not COCO numbers)" and lines[0] == lines[2] == "!" * 78
    coco = Dataset(kind="coco", root=None, tag="coco", reason="data: coco at /d")
    assert coco.banner() == "data: coco at /d"


def test_pipeline_steps_are_patched_by_type(repo_root):
    """``pipeline[type=Resize].scale`` patches the step an index patch would, and
    fails loudly when no step (or more than one) has that type."""
    from orchestrator.study.configs import get_path, load_base

    base = load_base(repo_root / "configs/centermask/toy/centermask-lite_v2-19-slim-dw_fpn_toy.py")
    pipeline = get_path(base, "train_dataloader.dataset.pipeline")[1]
    index = next(i for i, s in enumerate(pipeline) if s["type"] == "Resize")
    by_type, issues = apply_patch(
        base, {"train_dataloader.dataset.pipeline[type=Resize].scale": [96, 96]})
    by_index, _ = apply_patch(
        base, {f"train_dataloader.dataset.pipeline.{index}.scale": [96, 96]})
    assert not issues and config_hash(by_type) == config_hash(by_index) != config_hash(base)
    assert list(get_path(by_type, "train_dataloader.dataset.pipeline[type=Resize].scale")[1]
                ) == [96, 96]
    twice = {"p": [{"type": "A"}, {"type": "A"}]}
    for tree, key in ((base, "train_dataloader.dataset.pipeline[type=Nope].scale"),
                      (twice, "p[type=A].x")):
        _, issues = apply_patch(tree, {key: 1})
        assert issues and "does not exist" in issues[0].message
