"""Study files for tests and measurements, built on the fake configs of ``configs/``.

The builders return a study file's YAML text, made from plain dicts: a test states only
what its study is about (its axes, profiles, retries, ...) and the rest is written once here.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

CONFIGS = Path(__file__).parent / "configs"
#: Repository-relative paths of the fake configs (as a study file's ``base:`` names them).
FAKE_CONFIG = "orchestrator/testing/configs/fake_config.py"
SEARCH_FAKE_CONFIG = "orchestrator/testing/configs/search_fake_config.py"
#: The CenterMask-Lite toy config that the real-training tests train (seconds an epoch on a
#: CPU at 64 px; see :func:`tiny_toy_patch`).
TOY_LITE_CONFIG = "configs/centermask/toy/centermask-lite_v2-19-slim-dw_fpn_toy.py"


def study_yaml(name: str, *, base: str, data: str, cpus_per_job: int,
               **fields: Any) -> str:
    """YAML text of a study ``name`` on ``base`` and ``data``, each job on ``cpus_per_job``
    CPUs and no GPU, with the other top-level keys (``axes``, ``profiles``, ``retries``,
    ``seeds``, ``kind``, ``search``, ``table``, ...) as given, in the order given; a
    ``resources`` given replaces the default one."""
    study = {"name": name, "base": base, "data": data,
             "resources": {"gpus_per_job": 0, "cpus_per_job": cpus_per_job}, **fields}
    return yaml.safe_dump(study, sort_keys=False)


def fake_study(name: str, *, base: str = FAKE_CONFIG, **fields: Any) -> str:
    """A study of fake jobs (``base``: a config of ``configs/``): no data set, one CPU each."""
    return study_yaml(name, base=base, data="none", cpus_per_job=1, **fields)


def timed_profile(epochs: int, step_s: float, patch: dict[str, Any] | None = None
                  ) -> dict[str, Any]:
    """``profiles:`` with one profile ``t`` whose fake jobs run ``epochs`` epochs of
    ``step_s`` seconds each (slow enough to act on mid-run), plus ``patch``."""
    return {"t": {"patch": {"job_runner.epochs": epochs, "job_runner.step_s": step_s,
                            **(patch or {})}}}


def fake_search_study(name: str, *, n_trials: int, seed: int, epochs: int,
                      step_s: float) -> str:
    """A search over the fake trial job's ``x`` (random sampler, no pruning, profile ``t``)
    whose trials take about ``epochs * step_s`` seconds: slow enough to act on mid-run."""
    return fake_study(name, kind="search", base=SEARCH_FAKE_CONFIG, retries=2, search={
        "metric": "coco/segm_mAP", "n_trials": n_trials,
        "sampler": {"type": "random", "seed": seed}, "pruner": "none",
        "space": {"x": {"type": "float", "low": -1.0, "high": 1.0, "key": "job_runner.x"}},
    }, profiles=timed_profile(epochs, step_s))


def zero_work_study(name: str, n_jobs: int) -> str:
    """An ablation of ``n_jobs`` fake jobs that do no work (profile ``zero``: 0 epochs),
    for measuring the per-job overhead of ``orchestrator run``."""
    levels = {f"j{i}": {"optim_wrapper.optimizer.lr": round(0.1 * (i + 2), 1)}
              for i in range(n_jobs)}
    return fake_study(name, profiles={"zero": {"patch": {"job_runner.epochs": 0}}},
                      axes={"job": levels})


def tiny_toy_patch(max_epochs: int) -> dict[str, Any]:
    """Patch that makes :data:`TOY_LITE_CONFIG` a short CPU training: 64 px inputs (every
    dataloader's ``Resize`` step), validation, a checkpoint and a log line every epoch,
    and no score threshold (a model trained for a few iterations must still predict)."""
    # By type, as studies write it: the real-job tests then also log such keys as params.
    resize = {f"{split}_dataloader.dataset.pipeline[type=Resize].scale": [64, 64]
              for split in ("train", "val", "test")}
    return {**resize, "train_cfg.max_epochs": max_epochs, "train_cfg.val_interval": 1,
            "default_hooks.checkpoint.interval": 1, "default_hooks.logger.interval": 1,
            "model.test_cfg.fcos.score_thr": 0.0}


def tiny_toy_study(name: str, *, max_epochs: int, **fields: Any) -> str:
    """A study of :data:`TOY_LITE_CONFIG` on the toy set, two CPUs a job, whose profile
    ``tiny`` trains ``max_epochs`` epochs (:func:`tiny_toy_patch`)."""
    return study_yaml(name, base=TOY_LITE_CONFIG, data="toy", cpus_per_job=2, **fields,
                      profiles={"tiny": {"patch": tiny_toy_patch(max_epochs)}})
