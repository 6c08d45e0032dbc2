"""Every CenterMask config builds; parameter counts match the paper's Table 3; the table
configs really differ in what their row names say."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config

from centermask_mm.utils import count_params

REPO = Path(__file__).resolve().parents[2]
CFG_DIR = REPO / "configs/centermask"
CONFIGS = sorted(p for p in CFG_DIR.rglob("*.py"))
IDS = [str(p.relative_to(CFG_DIR)) for p in CONFIGS]
# Configs that mirror published models (reference preprocessing, iteration schedules) are
# checked against their reference configs in test_published_configs.py.
PUBLISHED = {Path(m["Config"]).name
             for m in yaml.safe_load((CFG_DIR / "metafile.yml").read_text())["Models"]}

# Paper Table 3 (and Table 4) "Params." column, in millions, counted without BN affine
# parameters. The V1-99 rows (83.6 M, 88.0 M with SE) are inconsistent with the paper's own
# V2-99 total minus its eSE layers (spec §7.3) and are reported in docs/centermask.md only.
PAPER_PARAMS_M = {
    "centermask_mobilenetv2_fpn_1x_coco.py": 28.7,
    "centermask_v2-19_fpn_1x_coco.py": 37.6,
    "centermask_hrnetv2p-w18_fpn_1x_coco.py": 36.4,
    "centermask_r50_fpn_1x_coco.py": 51.2,
    "centermask_v1-39_fpn_1x_coco.py": 49.0,
    "centermask_v1-39-res_fpn_1x_coco.py": 49.0,
    "centermask_v1-39-res-se_fpn_1x_coco.py": 50.8,
    "centermask_v2-39_fpn_1x_coco.py": 52.6,
    "centermask_hrnetv2p-w32_fpn_1x_coco.py": 56.2,
    "centermask_r101_fpn_1x_coco.py": 70.1,
    "centermask_v1-57_fpn_1x_coco.py": 63.0,
    "centermask_v1-57-res_fpn_1x_coco.py": 63.0,
    "centermask_v1-57-res-se_fpn_1x_coco.py": 65.9,
    "centermask_v2-57_fpn_1x_coco.py": 68.9,
    "centermask_hrnetv2p-w48_fpn_1x_coco.py": 92.3,
    "centermask_x101-32x8d_fpn_1x_coco.py": 114.3,
    "centermask_v2-99_fpn_1x_coco.py": 96.9,
}
_REMOTE = ("http://", "https://", "torchvision://", "open-mmlab://", "mmcls://")


def _load(path: Path) -> Config:
    register_all_modules()
    return Config.fromfile(str(path))


def _strip_pretrained(node, found: list[str]) -> None:
    """Set every ``Pretrained`` init_cfg to None (no weights on disk in tests)."""
    if isinstance(node, dict):
        init = node.get("init_cfg")
        if isinstance(init, dict) and init.get("type") == "Pretrained":
            found.append(init["checkpoint"])
            node["init_cfg"] = None
        for value in node.values():
            _strip_pretrained(value, found)
    elif isinstance(node, list):
        for value in node:
            _strip_pretrained(value, found)


def _build_meta(cfg: Config):
    """Build without allocating or initialising weights (meta tensors)."""
    with torch.device("meta"):
        return MODELS.build(cfg.model)


@pytest.fixture(scope="module")
def built() -> dict[str, tuple[Config, torch.nn.Module]]:
    out = {}
    for path, name in zip(CONFIGS, IDS, strict=True):
        cfg = _load(path)
        found: list[str] = []
        _strip_pretrained(cfg.model, found)
        cfg["_pretrained_"] = found
        out[name] = (cfg, _build_meta(cfg))
    return out


def test_there_is_a_config_for_every_table_row() -> None:
    assert len(CONFIGS) >= 40
    assert set(PAPER_PARAMS_M) <= set(IDS)


@pytest.mark.parametrize("name", IDS)
def test_config_builds_and_is_self_contained(built, name: str) -> None:
    cfg, model = built[name]
    assert cfg.custom_imports == dict(imports=["centermask_mm"], allow_failed_imports=False)
    # pretrained weights are local placeholders, never downloaded
    for ckpt in cfg["_pretrained_"]:
        assert not ckpt.startswith(_REMOTE) and ckpt.startswith("data/pretrained/"), ckpt
    if name.startswith("centermask"):
        assert type(model).__name__ == "CenterMask"
        assert model.bbox_head.num_classes == model.roi_head.mask_head.num_classes
        assert cfg.model.test_cfg.fcos.max_per_img == 50
        assert cfg.model.train_cfg.fcos_proposal.max_per_img == 100
        assert cfg.model.train_cfg.fcos_proposal.nms.iou_threshold == 0.6


@pytest.mark.parametrize("name", sorted(PAPER_PARAMS_M))
def test_parameter_counts_match_paper_table_3(built, name: str) -> None:
    _, model = built[name]
    params = count_params(model)
    paper = PAPER_PARAMS_M[name] * 1e6
    assert abs(params - paper) / paper < 0.005, f"{name}: {params / 1e6:.2f} M vs {paper / 1e6} M"


def test_r50_and_v2_39_totals_exactly(built) -> None:
    """Spec §7.3 computed totals: R-50 51.23 M, V2-39 52.61 M (FrozenBN counting)."""
    assert round(count_params(built["centermask_r50_fpn_1x_coco.py"][1]) / 1e4) == 5123
    assert round(count_params(built["centermask_v2-39_fpn_1x_coco.py"][1]) / 1e4) == 5261


def test_lite_parameter_counts(built) -> None:
    """Spec §6: Lite V-19 20.12 M, Lite V-39 35.11 M (80 classes, FrozenBN counting)."""
    assert round(count_params(built["centermask-lite_v2-19_fpn_4x_coco.py"][1]) / 1e4) == 2012
    assert round(count_params(built["centermask-lite_v2-39_fpn_4x_coco.py"][1]) / 1e4) == 3511


def test_table_1_rows(built) -> None:
    rows = {"centermask_r50_fpn_mask-eq1_1x_coco.py": ("eq1", False, False),
            "centermask_r50_fpn_mask-eq2_1x_coco.py": ("eq2", False, False),
            "centermask_r50_fpn_mask-eq2-sam_1x_coco.py": ("eq2", True, False),
            "centermask_r50_fpn_1x_coco.py": ("eq2", True, True)}
    for name, (rule, sam, scoring) in rows.items():
        roi = built[name][1].roi_head
        assert (roi.mask_roi_extractor.assign, roi.mask_head.with_sam, roi.with_mask_iou) == (
            rule, sam, scoring), name
    assert type(built["fcos_r50_fpn_gn-head-centermask_1x_coco.py"][1]).__name__ == "FCOS"


def test_table_2_level_ranges(built) -> None:
    for name, top in [("p3-p7", 7), ("p3-p6", 6), ("p3-p4", 4)]:
        ext = built[f"centermask_r50_fpn_{name}_1x_coco.py"][1].roi_head.mask_roi_extractor
        assert (ext.k_min, ext.k_max) == (3, top)
    ext = built["centermask_r50_fpn_1x_coco.py"][1].roi_head.mask_roi_extractor
    assert (ext.k_min, ext.k_max) == (3, 5)  # paper default P3-P5


def test_lite_widths_and_data(built) -> None:
    for name in [n for n in IDS if n.startswith("centermask-lite") and n.endswith("coco.py")
                 and n not in PUBLISHED]:
        cfg, model = built[name]
        assert model.neck.out_channels == 128
        assert (model.bbox_head.stacked_convs, model.bbox_head.feat_channels) == (2, 128)
        assert len(model.roi_head.mask_head.convs) == 2
        assert len(model.roi_head.mask_iou_head.convs) == 2
        resize = [s for s in cfg.train_dataloader.dataset.pipeline if "Resize" in s.type][0]
        assert resize.scale == [(1000, 580), (1000, 600)]
        test_resize = [s for s in cfg.test_dataloader.dataset.pipeline if s.type == "Resize"][0]
        assert tuple(test_resize.scale) == (1000, 600)
        assert cfg.train_cfg.max_epochs == 48


@pytest.mark.parametrize(("tag", "epochs"), [("_1x_", 12), ("_ms-2x_", 24), ("_ms-3x_", 36),
                                            ("_4x_", 48)])
def test_schedules(built, tag: str, epochs: int) -> None:
    names = [n for n in IDS if tag in n and n.startswith("centermask") and n not in PUBLISHED]
    assert names
    for name in names:
        cfg = built[name][0]
        assert cfg.train_cfg.max_epochs == epochs, name
        opt = cfg.optim_wrapper.optimizer
        assert (opt.type, opt.lr, opt.momentum, opt.weight_decay) == ("SGD", 0.01, 0.9, 1e-4)
        assert cfg.param_scheduler[0].end == 500  # warm-up iterations
        if "ms-" in tag:
            resize = [s for s in cfg.train_dataloader.dataset.pipeline if "Resize" in s.type][0]
            assert resize.scale == [(1333, 640), (1333, 800)]


@pytest.mark.parametrize("name", [n for n in IDS if n.startswith("toy/")])
def test_toy_configs_run_a_loss_step(name: str) -> None:
    """The small toy models also run forward (loss mode) on a 64x64 image."""
    from mmdet.testing import demo_mm_inputs

    cfg = _load(CFG_DIR / name)
    assert cfg.train_dataloader.dataset.type == "CheckedCocoDataset"
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    packed = demo_mm_inputs(1, [[3, 64, 64]], num_items=[2], num_classes=5, with_mask=True)
    losses = model(**model.data_preprocessor(packed, True), mode="loss")
    total = sum(v if isinstance(v, torch.Tensor) else sum(v) for v in losses.values())
    assert torch.isfinite(total)
