"""A small MLflow store with known runs, laid out as the orchestrator writes them.

Reusable: ``build_fixture_store(folder)`` writes a study file and a SQLite MLflow store into
``folder`` and returns what a test needs (tracking URI, study path, run ids by key, the
expected job hashes per row). The store holds (docs/contracts.md §1 layout):

* ``VoVNetV1-39`` (baseline): seeds 0, 1, 2;
* ``+ residual``: seeds 0, 1, 2, mask AP within noise of the baseline, box AP +0.1 on every
  seed (a consistent shift: not noise), ``segm_mAP_s`` exactly 0.0, no ``time_ms``;
* ``+ eSE``: seeds 0, 1 current; seed 0 also has an older stale run (superseded); seed 2
  only a stale run, so the row is stale;
* ``+ SE``: one failed run only, so its cells are missing;
* ``VoVNetV2-57``: one run that lives in another study's experiment, found by job hash.

Creating a store costs a few seconds (MLflow migrates the SQLite schema): build it once per
session or module.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

STUDY_NAME = "fixture-table4"
OTHER_STUDY = "fixture-table3"
DATASET = "toy:f1x7ure"

STUDY_YAML = """\
name: fixture-table4
description: "Fixture study for the analysis tests"
base: configs/centermask/centermask_v2-39_fpn_1x_coco.py
axes:
  backbone:
    v1-39: {model.backbone.residual: false, model.backbone.attention: null}
    v1-39-res: {model.backbone.attention: null}
    v1-39-se: {model.backbone.residual: false, model.backbone.attention: se}
    v2-39: {}
    v2-57: {model.backbone.depth: 57}
seeds: [0, 1, 2]
profiles:
  toy: {data: toy}
  paper: {data: coco}
default_profile: toy
table:
  title: "Table 4: VoVNetV2 ablation (fixture)"
  label: tab:fixture-4
  row_header: Backbone
  rows:
    - {name: "VoVNetV1-39", levels: {backbone: v1-39}, group: "39"}
    - {name: "+ residual", levels: {backbone: v1-39-res}, group: "39"}
    - {name: "+ eSE", levels: {backbone: v2-39}, group: "39"}
    - {name: "+ SE", levels: {backbone: v1-39-se}, group: "39"}
    - {name: "VoVNetV2-57", levels: {backbone: v2-57}, group: "57"}
  baseline: "VoVNetV1-39"
  columns: [segm_mAP, segm_mAP_s, bbox_mAP, params_m, time_ms]
  decimals: 1
  paper:
    "VoVNetV1-39": {segm_mAP: 35.3, bbox_mAP: 39.7, params_m: 49.0, time_ms: 68}
    "+ residual": {segm_mAP: 35.5, bbox_mAP: 39.8, params_m: 49.0, time_ms: 68}
    "+ eSE": {segm_mAP: 35.6, bbox_mAP: 40.0, params_m: 52.6, time_ms: 70}
    "+ SE": {segm_mAP: 34.6, bbox_mAP: 39.0, params_m: 50.8, time_ms: 70}
"""

# key: (study, level, seed, job hash, commit, status, metrics); runs are created in this
# order, so later runs have later start times.
_M = dict[str, float]
RUNS: list[tuple[str, str, str, int, str, str, str, _M]] = [
    ("v1-39/s0", STUDY_NAME, "v1-39", 0, "h-v1-39-s0", "c0ffee1", "succeeded",
     {"segm_mAP": 0.350, "segm_mAP_s": 0.150, "bbox_mAP": 0.395, "params_m": 49.0,
      "time_ms": 68.2}),
    ("v1-39/s1", STUDY_NAME, "v1-39", 1, "h-v1-39-s1", "c0ffee1", "succeeded",
     {"segm_mAP": 0.353, "segm_mAP_s": 0.155, "bbox_mAP": 0.397, "params_m": 49.0,
      "time_ms": 67.9}),
    ("v1-39/s2", STUDY_NAME, "v1-39", 2, "h-v1-39-s2", "c0ffee1", "succeeded",
     {"segm_mAP": 0.356, "segm_mAP_s": 0.160, "bbox_mAP": 0.399, "params_m": 49.0,
      "time_ms": 68.5}),
    ("v1-39-res/s0", STUDY_NAME, "v1-39-res", 0, "h-v1-39-res-s0", "c0ffee1", "succeeded",
     {"segm_mAP": 0.352, "segm_mAP_s": 0.0, "bbox_mAP": 0.396, "params_m": 49.0}),
    ("v1-39-res/s1", STUDY_NAME, "v1-39-res", 1, "h-v1-39-res-s1", "c0ffee1", "succeeded",
     {"segm_mAP": 0.354, "segm_mAP_s": 0.0, "bbox_mAP": 0.398, "params_m": 49.0}),
    ("v1-39-res/s2", STUDY_NAME, "v1-39-res", 2, "h-v1-39-res-s2", "c0ffee1", "succeeded",
     {"segm_mAP": 0.355, "segm_mAP_s": 0.0, "bbox_mAP": 0.400, "params_m": 49.0}),
    ("v2-39/s0-old", STUDY_NAME, "v2-39", 0, "old-v2-39-s0", "deadbee", "succeeded",
     {"segm_mAP": 0.340, "segm_mAP_s": 0.140, "bbox_mAP": 0.380, "params_m": 52.6,
      "time_ms": 71.0}),
    ("v2-39/s2-old", STUDY_NAME, "v2-39", 2, "old-v2-39-s2", "deadbee", "succeeded",
     {"segm_mAP": 0.365, "segm_mAP_s": 0.166, "bbox_mAP": 0.404, "params_m": 52.6,
      "time_ms": 69.9}),
    ("v2-39/s0", STUDY_NAME, "v2-39", 0, "h-v2-39-s0", "c0ffee1", "succeeded",
     {"segm_mAP": 0.360, "segm_mAP_s": 0.161, "bbox_mAP": 0.401, "params_m": 52.6,
      "time_ms": 70.1}),
    ("v2-39/s1", STUDY_NAME, "v2-39", 1, "h-v2-39-s1", "c0ffee1", "succeeded",
     {"segm_mAP": 0.362, "segm_mAP_s": 0.164, "bbox_mAP": 0.402, "params_m": 52.6,
      "time_ms": 70.3}),
    ("v1-39-se/s0", STUDY_NAME, "v1-39-se", 0, "h-v1-39-se-s0", "c0ffee1", "failed", {}),
    ("v2-57/s0", OTHER_STUDY, "v2-57", 0, "h-v2-57-s0", "c0ffee1", "succeeded",
     {"segm_mAP": 0.366, "segm_mAP_s": 0.169, "bbox_mAP": 0.415, "params_m": 68.9,
      "time_ms": 76.0}),
]

#: The orchestrator's current plan for the fixture study: row -> job hashes (one per seed).
EXPECTED: dict[str, set[str]] = {
    "VoVNetV1-39": {f"h-v1-39-s{s}" for s in range(3)},
    "+ residual": {f"h-v1-39-res-s{s}" for s in range(3)},
    "+ eSE": {f"h-v2-39-s{s}" for s in range(3)},
    "+ SE": {f"h-v1-39-se-s{s}" for s in range(3)},
    "VoVNetV2-57": {"h-v2-57-s0"},
}


@dataclass
class FixtureStore:
    """What :func:`build_fixture_store` made."""

    tracking_uri: str
    study_path: Path
    run_ids: dict[str, str] = field(default_factory=dict)
    expected: dict[str, set[str]] = field(default_factory=lambda: dict(EXPECTED))

    def normalize(self, text: str) -> str:
        """Replace the random MLflow run ids in ``text`` by ``<run:key>``."""
        for key, run_id in self.run_ids.items():
            text = text.replace(run_id, f"<run:{key}>")
        return text


def build_fixture_store(folder: Path) -> FixtureStore:
    """Write ``fixture-table4.yaml`` and ``mlflow.db`` into ``folder`` (see module doc)."""
    from mlflow.tracking import MlflowClient

    folder.mkdir(parents=True, exist_ok=True)
    study_path = folder / f"{STUDY_NAME}.yaml"
    study_path.write_text(STUDY_YAML, encoding="utf-8")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiments: dict[str, str] = {}
    parents: dict[str, str] = {}
    for study in (STUDY_NAME, OTHER_STUDY):
        experiments[study] = client.create_experiment(study)
        parent = client.create_run(experiments[study], run_name=study,
                                   tags={"cm.role": "study", "cm.study": study})
        parents[study] = parent.info.run_id
    store = FixtureStore(uri, study_path)
    t0 = 1_700_000_000_000
    for i, (key, study, level, seed, job_hash, commit, status, metrics) in enumerate(RUNS):
        tags = {
            "mlflow.parentRunId": parents[study], "cm.role": "job", "cm.study": study,
            "cm.table": "tab:fixture-4", "cm.job_hash": job_hash, "cm.seed": str(seed),
            "cm.profile": "toy", "cm.dataset": DATASET, "cm.git_commit": commit,
            "cm.git_dirty": "false", "cm.level.backbone": level,
            "cm.config_family": "centermask", "cm.hardware": "cpu", "cm.status": status,
            "cm.time_hardware": "cpu", "cm.time_contended": "false",
        }
        run = client.create_run(experiments[study], start_time=t0 + 1000 * i, tags=tags,
                                run_name=key)
        rid = run.info.run_id
        store.run_ids[key] = rid
        client.log_param(rid, "level.backbone", level)
        client.log_param(rid, "seed", seed)
        for name, value in metrics.items():
            mkey = name if name in {"params_m", "time_ms"} else f"test/coco/{name}"
            client.log_metric(rid, mkey, value, timestamp=t0 + 1000 * i, step=0)
        # A per-epoch validation metric and a loss, which the tables must ignore.
        client.log_metric(rid, "coco/segm_mAP", 0.01, step=1)
        client.log_metric(rid, "loss", 1.5, step=1)
        client.set_terminated(rid, "FINISHED" if status == "succeeded" else "FAILED",
                              end_time=t0 + 1000 * i + 500)
    for study in (STUDY_NAME, OTHER_STUDY):
        client.set_terminated(parents[study], "FINISHED")
    return store
