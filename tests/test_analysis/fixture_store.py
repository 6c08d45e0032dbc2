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

#: The metrics a run logs, in the order of :attr:`FixtureRun.values`.
METRICS = ("segm_mAP", "segm_mAP_s", "bbox_mAP", "params_m", "time_ms")


@dataclass(frozen=True)
class FixtureRun:
    """One job run of the store. Its MLflow run name (the key of ``run_ids``) is
    ``<level>/s<seed>`` and its job hash ``h-<level>-s<seed>`` at commit ``c0ffee1``; a
    ``stale`` run (an older plan's job) is ``<level>/s<seed>-old``, ``old-<level>-s<seed>``
    at commit ``deadbee``. ``values`` are :data:`METRICS` in order (a shorter tuple logs
    only the first ones)."""

    level: str
    seed: int
    values: tuple[float, ...] = ()
    stale: bool = False
    status: str = "succeeded"
    study: str = STUDY_NAME

    @property
    def key(self) -> str:
        return f"{self.level}/s{self.seed}" + ("-old" if self.stale else "")

    @property
    def job_hash(self) -> str:
        return f"{'old' if self.stale else 'h'}-{self.level}-s{self.seed}"

    @property
    def commit(self) -> str:
        return "deadbee" if self.stale else "c0ffee1"

    @property
    def metrics(self) -> dict[str, float]:
        return dict(zip(METRICS, self.values, strict=False))


#: Created in this order, so later runs have later start times.
RUNS: list[FixtureRun] = [
    FixtureRun("v1-39", 0, (0.350, 0.150, 0.395, 49.0, 68.2)),
    FixtureRun("v1-39", 1, (0.353, 0.155, 0.397, 49.0, 67.9)),
    FixtureRun("v1-39", 2, (0.356, 0.160, 0.399, 49.0, 68.5)),
    FixtureRun("v1-39-res", 0, (0.352, 0.0, 0.396, 49.0)),  # no time_ms
    FixtureRun("v1-39-res", 1, (0.354, 0.0, 0.398, 49.0)),
    FixtureRun("v1-39-res", 2, (0.355, 0.0, 0.400, 49.0)),
    FixtureRun("v2-39", 0, (0.340, 0.140, 0.380, 52.6, 71.0), stale=True),
    FixtureRun("v2-39", 2, (0.365, 0.166, 0.404, 52.6, 69.9), stale=True),
    FixtureRun("v2-39", 0, (0.360, 0.161, 0.401, 52.6, 70.1)),
    FixtureRun("v2-39", 1, (0.362, 0.164, 0.402, 52.6, 70.3)),
    FixtureRun("v1-39-se", 0, status="failed"),
    FixtureRun("v2-57", 0, (0.366, 0.169, 0.415, 68.9, 76.0), study=OTHER_STUDY),
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
    for i, spec in enumerate(RUNS):
        tags = {
            "mlflow.parentRunId": parents[spec.study], "cm.role": "job", "cm.study": spec.study,
            "cm.table": "tab:fixture-4", "cm.job_hash": spec.job_hash, "cm.seed": str(spec.seed),
            "cm.profile": "toy", "cm.dataset": DATASET, "cm.git_commit": spec.commit,
            "cm.git_dirty": "false", "cm.level.backbone": spec.level,
            "cm.config_family": "centermask", "cm.hardware": "cpu", "cm.status": spec.status,
            "cm.time_hardware": "cpu", "cm.time_contended": "false",
        }
        run = client.create_run(experiments[spec.study], start_time=t0 + 1000 * i, tags=tags,
                                run_name=spec.key)
        rid = run.info.run_id
        store.run_ids[spec.key] = rid
        client.log_param(rid, "level.backbone", spec.level)
        client.log_param(rid, "seed", spec.seed)
        for name, value in spec.metrics.items():
            mkey = name if name in {"params_m", "time_ms"} else f"test/coco/{name}"
            client.log_metric(rid, mkey, value, timestamp=t0 + 1000 * i, step=0)
        # A per-epoch validation metric and a loss, which the tables must ignore.
        client.log_metric(rid, "coco/segm_mAP", 0.01, step=1)
        client.log_metric(rid, "loss", 1.5, step=1)
        client.set_terminated(rid, "FINISHED" if spec.status == "succeeded" else "FAILED",
                              end_time=t0 + 1000 * i + 500)
    for study in (STUDY_NAME, OTHER_STUDY):
        client.set_terminated(parents[study], "FINISHED")
    return store
