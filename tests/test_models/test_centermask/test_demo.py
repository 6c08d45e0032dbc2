"""tools/demo.py draws a CenterMask model's predictions on toy images."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from ._tiny import REPO, TOY_CFG


@pytest.fixture(autouse=True)
def _tools_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """demo.py imports its sibling tools/_cli_common.py, found on sys.path[0] only when
    demo.py runs as a script."""
    monkeypatch.syspath_prepend(str(REPO / "tools"))


def _demo_module():
    spec = importlib.util.spec_from_file_location("cm_demo", REPO / "tools/demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_writes_visualisations(tiny_toy: Path, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    from centermask_mm.datasets.toy import METAINFO

    register_all_modules()
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(TOY_CFG)).model)
    ckpt = tmp_path / "model.pth"
    # like a Runner checkpoint: it carries objects that weights_only unpickling rejects
    from mmengine.logging import HistoryBuffer

    torch.save(dict(state_dict=model.state_dict(), meta=dict(dataset_meta=METAINFO),
                    message_hub=dict(log_scalars={"loss": HistoryBuffer([1.0], [1])})), ckpt)
    images = sorted((tiny_toy / "val").glob("*.png"))[:2]
    src = tmp_path / "images"
    src.mkdir()
    for img in images:
        (src / img.name).write_bytes(img.read_bytes())
    out = tmp_path / "out"
    demo = _demo_module()
    # demo.main relaxes torch.load's weights_only default; keep that out of other tests
    monkeypatch.setattr(os, "environ", os.environ.copy())
    # a random-init head scores ~0.01, so draw everything it finds
    rc = demo.main([str(src), str(TOY_CFG), str(ckpt), "--out", str(out), "--score-thr", "0",
                    "--cfg-options", "model.test_cfg.fcos.score_thr=0.0",
                    "model.test_cfg.fcos.max_per_img=3"])
    assert rc == 0
    drawn = sorted((out / "vis").glob("*.png"))
    assert [p.name for p in drawn] == [p.name for p in images]
    vis = np.asarray(Image.open(drawn[0]).convert("RGB"))
    orig = np.asarray(Image.open(images[0]).convert("RGB"))
    assert vis.shape == orig.shape and not np.array_equal(vis, orig)  # something was drawn


def test_demo_rejects_missing_inputs(tmp_path: Path) -> None:
    demo = _demo_module()
    with pytest.raises(SystemExit, match="not found"):
        demo.main([str(tmp_path / "nope.png"), str(TOY_CFG), str(TOY_CFG), "--out",
                   str(tmp_path)])
    with pytest.raises(SystemExit, match="checkpoint not found"):
        demo.main([str(tmp_path), str(TOY_CFG), str(tmp_path / "x.pth"), "--out",
                   str(tmp_path)])
