"""Helpers for tests and quick runs on the synthetic toy set."""
from __future__ import annotations

from pathlib import Path

from mmengine.config import Config


def point_to_toy(cfg: Config, root: str | Path) -> Config:
    """Point a config that inherits ``_base_/datasets/toy_instance.py`` at ``root``.

    Sets ``data_root`` of the train/val/test datasets and the evaluators' ``ann_file``
    (which mmdet's CocoMetric resolves without ``data_root``). Returns ``cfg``.
    """
    root = str(Path(root)) + "/"
    for loader in ("train_dataloader", "val_dataloader", "test_dataloader"):
        if loader in cfg and cfg[loader] is not None:
            ds = cfg[loader]["dataset"]
            # Wrappers (RepeatDataset, ...) keep the real dataset one level down.
            while "dataset" in ds and "data_root" not in ds:
                ds = ds["dataset"]
            ds["data_root"] = root
    for ev in ("val_evaluator", "test_evaluator"):
        if ev in cfg and cfg[ev] is not None:
            cfg[ev]["ann_file"] = root + "annotations/instances_val.json"
    return cfg
