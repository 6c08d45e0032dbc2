"""The study files that regenerate the papers' tables (``experiments/studies/*.yaml``).

Every study is planned with the orchestrator itself (``plan_study``: schema, patch keys and
types, no-op and twin levels, model builds on the meta device) under each of its profiles,
and then checked against the papers and the configs:

* the table rows name existing levels, select exactly one level combination each, and
  together cover every job; the job count is rows x seeds;
* ``table.paper`` resolves in ``analysis/paper_numbers.yaml`` and every row label is one of
  the paper table's labels;
* the paper-profile job of every row is the row's config in ``configs/`` (the same resolved
  config, so the same job as running that config; the expected rows and configs are in
  ``paper_tables.yaml``), and rows shared between tables are one job (dedup across studies);
* every level of a combination applies cleanly on top of the levels before it;
* every toy profile runs on a fresh CPU machine: no resolved config names a checkpoint
  (no ``Pretrained`` init_cfg, ``load_from`` or ``pretrained`` path, no weights file
  anywhere), every job reads the toy set, inputs and iteration counts are CPU-sized;
* mmcv's ``RandomResize`` gets the list of tuples it needs in every profile.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from analysis.paper import paper_numbers
from analysis.report import load_study as analysis_study
from orchestrator.study.configs import apply_patch, canonical, config_hash, load_base
from orchestrator.study.plan import Plan, PlannedJob, plan_study
from orchestrator.study.reader import Study, load_study
from orchestrator.workspace import REPO_ROOT, find_study

STUDIES = REPO_ROOT / "experiments" / "studies"


class Row(NamedTuple):
    """The config file a table row reproduces, and whether the whole resolved config must
    be equal (``exact``) or only what the Runner reads (mmdet-based rows whose configs also
    carry unused top-level variables and registry scopes)."""

    config: str
    exact: bool = True


def _paper_tables() -> dict[str, dict[str, Any]]:
    """``paper_tables.yaml`` (its comment says what each key means)."""
    import yaml

    tables = yaml.safe_load(Path(__file__).with_name("paper_tables.yaml").read_text())
    for name, table in tables.items():
        unknown = set(table.get("runner_only", [])) - set(table["rows"])
        assert not unknown, f"paper_tables.yaml: {name}: runner_only names no row: {unknown}"
    return tables


_TABLES = _paper_tables()

#: study file -> (paper table id, {row label: Row}). Row order is the paper's.
EXPECTED: dict[str, tuple[str, dict[str, Row]]] = {
    name: (table["paper"], {label: Row(f"configs/{config}",
                                       label not in table.get("runner_only", []))
                            for label, config in table["rows"].items()})
    for name, table in _TABLES.items()}

#: `orchestrator run studies/tableN.yaml` names CenterMask's tables (the primary paper).
ALIASES = {f"table{i}.yaml": f"centermask_table{i}.yaml" for i in range(1, 6)}

#: Rows that are the same job in several tables (paper profile, same seed).
SHARED_ROWS: list[list[tuple[str, str]]] = [
    [("centermask_table1.yaml", "+ Mask scoring"), ("centermask_table2.yaml", "P3 ~ P5"),
     ("centermask_table3.yaml", "ResNet-50")],
    *([("centermask_table3.yaml", f"VoVNetV{v}-{d}"),
       ("centermask_table4.yaml", f"VoVNetV1-{d}" + ("" if v == 1 else " + eSE, ours"))]
      for d in (39, 57, 99) for v in (1, 2)),
    *([("centermask_lite.yaml", f"CenterMask-Lite ({b}-FPN)"),
       ("centermask_table5.yaml", f"CenterMask-Lite ({b}-FPN)")]
      for b in ("M-v2", "V-19", "R-50", "V-39")),
    [("sais_table1.yaml", "fixed size"), ("sais_table2.yaml", "SAIS")],
    [("sais_table2.yaml", "SAIS w/ c"), ("sais_table3.yaml", "w/o fusion")],
    [("sais_table3.yaml", "w/ fusion"), ("sais_table4.yaml", "SAIS-768 (ResNet-50-FPN)")],
]

#: A string ending in one of these names a weights file.
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".ckpt", ".safetensors", ".bin", ".pkl", ".npz", ".h5")

#: Config keys whose string value is a checkpoint to load.
CHECKPOINT_KEYS = frozenset({"load_from", "pretrained", "checkpoint", "resume_from"})

#: Largest network input side (px) of a toy job, and the studies allowed more because the
#: input size is what their rows differ in (SAIS-640 vs SAIS-768; see the study's comment).
TOY_MAX_SIDE = 256
TOY_MAX_SIDE_EXCEPTIONS = {"sais_table4.yaml": 768}

#: Most training iterations of a toy job (the CPU budget: <= ~10 min a job, see the files),
#: and the smoke study's, which must end with models that have learned (about 10 min on one
#: thread each; see its comment).
TOY_MAX_ITERS = 400
TOY_MAX_ITERS_EXCEPTIONS = {"smoke.yaml": 750}

#: Top-level keys mmengine's Runner reads; the rest of a config file is parse-time helpers.
RUNNER_KEYS = frozenset({
    "model", "train_dataloader", "val_dataloader", "test_dataloader", "train_cfg", "val_cfg",
    "test_cfg", "val_evaluator", "test_evaluator", "optim_wrapper", "param_scheduler",
    "default_hooks", "custom_hooks", "env_cfg", "log_processor", "log_level", "visualizer",
    "vis_backends", "load_from", "resume", "default_scope", "custom_imports",
    "auto_scale_lr", "randomness", "launcher"})


def study_files() -> list[Path]:
    """Every ablation study file that is not an alias (a symlink to another study file).

    Search studies (``kind: search``, Optuna) are not tables; their own tests cover them.
    """
    import yaml

    return sorted(p for p in STUDIES.glob("*.yaml") if not p.is_symlink()
                  and (yaml.safe_load(p.read_text()) or {}).get("kind", "ablation") != "search")


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory, tiny_toy: Path
          ) -> Iterator[dict[tuple[str, str], tuple[Study, Plan]]]:
    """(study file name, profile) -> (study, plan) for every study and profile.

    Planned on the tiny toy set (``data: auto`` falls back to it: COCO is hidden), with the
    model build check on; builds are cached per model config in the shared workspace.
    """
    workspace = tmp_path_factory.mktemp("studies-ws")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CM_COCO_ROOT", str(workspace / "no-coco"))
        mp.setenv("CM_TOY_ROOT", str(tiny_toy))
        out = {}
        for path in study_files():
            study = load_study(path)
            for profile in study.profiles:
                if study.profiles[profile].evaluate is not None:
                    continue  # published checkpoints: test_published_profiles below
                out[(path.name, profile)] = (study, plan_study(
                    study, profile, workspace=workspace, repo_root=REPO_ROOT))
        yield out


def jobs_of_row(plan: Plan, levels: Mapping[str, str]) -> list[PlannedJob]:
    return [j for j in plan.jobs if all(j.levels.get(a) == lv for a, lv in levels.items())]


def table_rows(study: Study) -> dict[str, dict[str, str]]:
    return {str(r["name"]): {str(a): str(lv) for a, lv in r["levels"].items()}
            for r in (study.table or {}).get("rows", [])}


def job_tree(study: Study, plan: Plan, job: PlannedJob) -> dict[str, Any]:
    """The job's resolved config before data binding, every level applied cleanly (from the
    config a level names as its ``_base_``, if one does)."""
    tree = plan.base_config
    own = [lv.base for a in study.axes if (lv := a.level(job.levels[a.name])) and lv.base]
    if own:
        tree, issues = apply_patch(load_base(REPO_ROOT / own[0]), plan.profile.patch)
        assert not issues
    for axis in study.axes:
        level = axis.level(job.levels[axis.name])
        assert level is not None
        tree, issues = apply_patch(tree, level.patch)
        assert not issues, (f"{study.path.name}: level {axis.name}={level.name} does not apply "
                            f"after the levels before it in {job.name}: {issues}")
    # The plan then applies the profile's override and its declared effective batch
    # (``batch:``, e.g. the paper's 8 x 2); the rows' configs are compared without them.
    full, issues = apply_patch(tree, plan.profile.override)
    if plan.batch is not None and not issues:
        full, issues = apply_patch(full, plan.batch.patch(full))
    assert not issues
    assert config_hash(full) == job.config_hash
    return tree


def runner_view(tree: Any, top: bool = True) -> Any:
    """What the Runner reads: RUNNER_KEYS at the top, registry ``_scope_`` keys dropped."""
    if isinstance(tree, Mapping):
        return {k: runner_view(v, False) for k, v in tree.items()
                if k != "_scope_" and (not top or k in RUNNER_KEYS)}
    if isinstance(tree, list | tuple):
        return [runner_view(v, False) for v in tree]
    return tree


def checkpoint_references(node: Any, where: str = "") -> list[str]:
    """``key: value`` for everything in a config tree that names weights to load.

    A ``Pretrained`` init_cfg, a string under ``load_from`` / ``pretrained`` /
    ``checkpoint`` / ``resume_from`` (at any depth: the top-level ``pretrained`` variable of
    mmdet-style configs, a backbone's ``pretrained=``), and any string that ends like a
    weights file.
    """
    found: list[str] = []
    if isinstance(node, Mapping):
        if node.get("type") == "Pretrained":
            found.append(f"{where or 'config'}: Pretrained init_cfg")
        for key, value in node.items():
            sub = f"{where}.{key}" if where else str(key)
            if key in CHECKPOINT_KEYS and isinstance(value, str) and value:
                found.append(f"{sub}: {value!r}")
            else:
                found += checkpoint_references(value, sub)
    elif isinstance(node, list | tuple):
        for i, value in enumerate(node):
            found += checkpoint_references(value, f"{where}.{i}")
    elif isinstance(node, str) and node.lower().endswith(CHECKPOINT_SUFFIXES):
        found.append(f"{where}: {node!r}")
    return found


def input_side(pipeline: Any) -> int:
    """Largest network input side (px) a pipeline's Resize steps give a square toy image.

    A keep-ratio resize to ``(long, short)`` makes a square ``min(long, short)`` on a side;
    a plain resize to ``(w, h)`` makes ``max(w, h)``; a jitter range its largest choice.
    """
    side = 0
    for step in pipeline or []:
        if not isinstance(step, Mapping) or "Resize" not in str(step.get("type")):
            continue
        scale = step.get("scale")
        scales = list(scale) if scale and isinstance(scale[0], list | tuple) else [scale]
        for s in scales:
            if s:
                side = max(side, min(s) if step.get("keep_ratio") else max(s))
    return side


def dataloaders(config: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """split -> dataloader of a config (those it has)."""
    return {split: config[f"{split}_dataloader"] for split in ("train", "val", "test")
            if isinstance(config.get(f"{split}_dataloader"), Mapping)}


@pytest.fixture(scope="module")
def toy_plans(tmp_path_factory: pytest.TempPathFactory, tiny_toy: Path
              ) -> dict[str, Plan]:
    """study file name -> plan of its toy profile (no model builds: quick)."""
    workspace = tmp_path_factory.mktemp("toy-ws")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CM_COCO_ROOT", str(workspace / "no-coco"))
        mp.setenv("CM_TOY_ROOT", str(tiny_toy))
        return {path.name: plan_study(load_study(path), "toy", workspace=workspace,
                                      repo_root=REPO_ROOT, validate_build=False)
                for path in study_files() if "toy" in load_study(path).profiles}


# --------------------------------------------------------------------------- tests

def test_every_table_has_a_study_and_every_study_is_known() -> None:
    names = {p.name for p in study_files()}
    assert names == set(EXPECTED) | {"smoke.yaml"}
    loaded = [load_study(STUDIES / n) for n in sorted(names)]
    assert len({s.name for s in loaded}) == len(loaded), "study names must be unique"


@pytest.mark.parametrize("alias,target", sorted(ALIASES.items()))
def test_table_aliases(alias: str, target: str) -> None:
    path = STUDIES / alias
    assert path.is_symlink() and path.resolve() == (STUDIES / target).resolve()
    found = find_study(f"studies/{alias}")  # as users type it, from the repo root
    assert found.resolve() == (STUDIES / target).resolve()
    assert load_study(found).name == load_study(STUDIES / target).name


def test_every_study_has_paper_and_toy_profiles(plans: dict) -> None:
    for path in study_files():
        study = load_study(path)
        assert {"paper", "toy"} <= set(study.profiles) or path.name == "smoke.yaml"
        for profile in study.profiles:
            assert (path.name, profile) in plans or study.profiles[profile].evaluate


@pytest.mark.parametrize("name", sorted(EXPECTED) + ["smoke.yaml"])
def test_rows_levels_and_job_count(plans: dict, name: str) -> None:
    for (file, profile), (study, plan) in plans.items():
        if file != name:
            continue
        rows = table_rows(study)
        seeds = study.profiles[profile].seeds or study.seeds
        covered: set[str] = set()
        for row, levels in rows.items():
            jobs = jobs_of_row(plan, levels)
            combos = {tuple(sorted(j.levels.items())) for j in jobs}
            assert len(combos) == 1, f"{name}: row {row!r} selects {len(combos)} combinations"
            assert sorted(j.seed for j in jobs) == sorted(seeds), (name, profile, row)
            covered |= {j.job_id for j in jobs}
        assert len(plan.jobs) == len(rows) * len(seeds), (name, profile)
        assert covered == {j.job_id for j in plan.jobs}, f"{name}: jobs outside the table"
        assert len({j.job_id for j in plan.jobs}) == len(plan.jobs), f"{name}: one job twice"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_table_section_and_paper_reference(name: str) -> None:
    info = analysis_study(STUDIES / name)  # the table as analysis lays it out
    paper_id, expected_rows = EXPECTED[name]
    assert info.table is not None and info.table.paper_ref == paper_id
    names = [r.name for r in info.table.rows]
    assert names == list(expected_rows), "rows must be the paper's, in the paper's order"
    labels = list(paper_numbers(paper_id))
    assert set(names) <= set(labels), f"not paper labels: {set(names) - set(labels)}"
    # The paper's order is kept among the rows the study trains.
    assert names == [lb for lb in labels if lb in names]
    assert info.table.decimals == 1
    assert set(info.table.paper) == set(names), "every row has the paper's numbers"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_paper_rows_are_the_configs(plans: dict, name: str) -> None:
    study, plan = plans[(name, "paper")]
    assert not study.profiles["paper"].patch, "the paper profile runs the configs as they are"
    for row, levels in table_rows(study).items():
        expected = EXPECTED[name][1][row]
        want = load_base(REPO_ROOT / expected.config)
        for job in jobs_of_row(plan, levels):
            got = job_tree(study, plan, job)
            if expected.exact:
                assert config_hash(got) == config_hash(want), f"{name}: {row} != {expected.config}"
                continue
            got_r, want_r = runner_view(got), runner_view(want)
            if name == "sais_table2.yaml" and row in ("FCOS", "FCOS w/ c"):
                # The study's FCOS head is CenterAwareFCOSHead with center_aware off/on, so
                # that one switch serves both methods; off it is mmdet's FCOSHead exactly.
                head = got_r["model"]["bbox_head"]
                assert head["type"] == "CenterAwareFCOSHead"
                if row == "FCOS":
                    assert head.pop("center_aware") is False
                    head["type"] = "FCOSHead"
            assert canonical(got_r) == canonical(want_r), f"{name}: {row} != {expected.config}"


def test_shared_rows_are_one_job(plans: dict) -> None:
    for group in SHARED_ROWS:
        ids = []
        for name, row in group:
            study, plan = plans[(name, "paper")]
            ids.append({j.seed: j.job_id for j in jobs_of_row(plan, table_rows(study)[row])})
        common = set.intersection(*(set(i) for i in ids))
        assert common, group
        for seed in common:
            assert len({i[seed] for i in ids}) == 1, f"not one job: {group} (seed {seed})"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_toy_profile_needs_no_checkpoint(toy_plans: dict[str, Plan], name: str) -> None:
    """`orchestrator run studies/<table>.yaml --profile toy` on a fresh machine: nothing
    to download, whatever the levels bring (the profile's override comes after them)."""
    plan = toy_plans[name]
    assert plan.jobs
    for job in plan.jobs:
        refs = checkpoint_references(job.config)
        assert not refs, f"{name}: toy job {job.name} loads weights: {refs}"


def test_smoke_toy_profile_loads_no_checkpoint(toy_plans: dict[str, Plan]) -> None:
    """The smoke study's jobs load nothing either (what the Runner reads: its toy config
    still carries an unused top-level ``pretrained`` path, from the Lite configs)."""
    for job in toy_plans["smoke.yaml"].jobs:
        refs = checkpoint_references(
            {k: v for k, v in job.config.items() if k in RUNNER_KEYS})
        assert not refs, f"smoke: {job.name} loads weights: {refs}"


@pytest.mark.parametrize("name", sorted(EXPECTED) + ["smoke.yaml"])
def test_toy_profile_reads_the_toy_set(toy_plans: dict[str, Plan], tiny_toy: Path,
                                       name: str) -> None:
    from centermask_mm.datasets import toy

    plan = toy_plans[name]
    assert plan.dataset.kind == "toy" and plan.dataset.tag.startswith("toy:")
    root = str(plan.dataset.root).rstrip("/") + "/"
    assert root == str(tiny_toy.resolve()).rstrip("/") + "/"
    for job in plan.jobs:
        loaders = dataloaders(job.config)
        assert set(loaders) == {"train", "val", "test"}, (name, job.name)
        for split, loader in loaders.items():
            ds = loader["dataset"]
            want = "train" if split == "train" else "val"
            assert ds["data_root"] == root, (name, job.name, split)
            assert ds["ann_file"] == f"annotations/instances_{want}.json", (name, job.name)
            assert tuple(ds["metainfo"]["classes"]) == tuple(toy.CLASSES), (name, job.name)
        for key in ("val_evaluator", "test_evaluator"):
            evaluators = job.config[key]
            for ev in evaluators if isinstance(evaluators, list | tuple) else [evaluators]:
                assert ev["ann_file"] == root + "annotations/instances_val.json", (name, key)
        num_classes = _values_of(job.config["model"], "num_classes")
        assert num_classes and set(num_classes) == {len(toy.CLASSES)}, (name, job.name)


@pytest.mark.parametrize("name", sorted(EXPECTED) + ["smoke.yaml"])
def test_toy_profile_is_cpu_sized(toy_plans: dict[str, Plan], name: str) -> None:
    """Small inputs and few iterations (the budgets written in each file's comment), so
    that the numbers and comments do not drift apart silently."""
    from centermask_mm.datasets.toy import ToySpec

    max_side = TOY_MAX_SIDE_EXCEPTIONS.get(name, TOY_MAX_SIDE)
    for job in toy_plans[name].jobs:
        loaders = dataloaders(job.config)
        for split, loader in loaders.items():
            side = input_side(loader["dataset"]["pipeline"])
            assert 0 < side <= max_side, f"{name}: {job.name} {split} input {side} px"
        train = loaders["train"]
        indices = train["dataset"].get("indices")
        images = indices if isinstance(indices, int) else ToySpec().num_train
        iters = math.ceil(images / train["batch_size"]) * job.config["train_cfg"]["max_epochs"]
        assert iters <= TOY_MAX_ITERS_EXCEPTIONS.get(name, TOY_MAX_ITERS), \
            f"{name}: {job.name} trains {iters} iterations"


def test_toy_profiles_of_tables_3_and_4_share_the_vovnet_jobs(
        toy_plans: dict[str, Plan]) -> None:
    """The toy profiles keep the paper profile's dedup of the six VoVNet rows."""
    t3 = {j.levels["backbone"]: j.job_id for j in toy_plans["centermask_table3.yaml"].jobs}
    t4 = {(j.levels["depth"], j.levels["block"]): j.job_id
          for j in toy_plans["centermask_table4.yaml"].jobs}
    for d in (39, 57, 99):
        assert t3[f"V1-{d}"] == t4[(f"V-{d}", "V1")]
        assert t3[f"V2-{d}"] == t4[(f"V-{d}", "+eSE")]


def test_random_resize_scales_are_tuples(plans: dict) -> None:
    """mmcv's RandomResize rejects a list of lists ("Do not support sampling function"):
    a YAML jitter range must reach the job as a list of tuples, in every profile."""
    for (name, profile), (_, plan) in plans.items():
        for job in plan.jobs:
            for split, loader in dataloaders(job.config).items():
                for step in loader["dataset"].get("pipeline") or []:
                    scale = step.get("scale")
                    if step.get("type") == "RandomResize" and scale and isinstance(
                            scale[0], list | tuple):
                        assert all(isinstance(s, tuple) for s in scale), (
                            f"{name} [{profile}]: {job.name} {split} RandomResize scale "
                            f"{scale!r} (write the range element by element: .scale.0, .scale.1)")


def _values_of(node: Any, key: str) -> list[Any]:
    if isinstance(node, Mapping):
        return [v for k, v in node.items() if k == key] + [
            x for v in node.values() for x in _values_of(v, key)]
    if isinstance(node, list | tuple):
        return [x for v in node for x in _values_of(v, key)]
    return []


# --------------------------------------------------------------------------- published

#: study file -> profile -> {table row: the metafile model its evaluation job tests}; the
#: table rows not listed have no published checkpoint (plan notes them).
PUBLISHED: dict[str, dict[str, dict[str, str]]] = {
    name: table["published_models"] for name, table in _TABLES.items()
    if "published_models" in table}


def _metafile() -> dict[str, dict[str, Any]]:
    import yaml

    data = yaml.safe_load((REPO_ROOT / "configs" / "centermask" / "metafile.yml").read_text())
    return {m["Name"]: m for m in data["Models"]}


@pytest.fixture(scope="module")
def published_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(workspace, weights folder): a stand-in file (distinct bytes) under every published
    weights name, a tiny toy set labelled with COCO's categories, COCO hidden."""
    from centermask_mm.datasets import toy

    workspace = tmp_path_factory.mktemp("published-ws")
    weights = tmp_path_factory.mktemp("published-weights")
    for name, m in _metafile().items():
        if m.get("Weights"):
            (weights / m["Weights"]).write_bytes(name.encode())
    coco_toy = toy.generate(workspace / "coco-toy", toy.ToySpec(
        num_train=1, num_val=2, height=64, width=64, max_objects=2, coco_categories=True))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CM_COCO_ROOT", str(workspace / "no-coco"))
        mp.setenv("CM_TOY_ROOT", str(coco_toy))
        mp.setenv("CM_WEIGHTS_DIR", str(weights))
        yield workspace, weights


@pytest.mark.parametrize("name,profile", [(n, p) for n, ps in sorted(PUBLISHED.items())
                                          for p in ps])
def test_published_profiles(published_env: tuple[Path, Path], name: str, profile: str
                            ) -> None:
    """Every row with a published checkpoint gets one evaluation job that tests the metafile
    model's file with the metafile model's config (80 classes kept); the other rows are
    left out with a note; the table's reference numbers are the metafile's AP."""
    import orchestrator

    workspace, weights = published_env
    study = load_study(STUDIES / name)
    plan = plan_study(study, profile, workspace=workspace, repo_root=REPO_ROOT,
                      validate_build=False)
    meta, expected = _metafile(), PUBLISHED[name][profile]
    rows = table_rows(study)
    for row, model in expected.items():
        (job,) = jobs_of_row(plan, rows[row])
        runner = job.config["job_runner"]
        assert job.mode == "evaluate" and job.tags["cm.published_model"] == model, row
        assert runner["weights"] == str(weights / meta[model]["Weights"]), row
        assert job.tags["cm.weights_file"] == meta[model]["Weights"]
        mirror = load_base(REPO_ROOT / meta[model]["Config"])
        assert job.config["model"]["backbone"] == mirror["model"]["backbone"], row
        assert {job.config["model"]["bbox_head"]["num_classes"]} == {80}, row
    assert len(plan.jobs) == len(expected), f"{name}: one job per published row"
    left_out = [r for r in rows if r not in expected]
    assert len(plan.notes) == len(left_out)
    for row in left_out:
        assert any(repr(row) in n and "no published model" in n for n in plan.notes), row
    refs = orchestrator.describe_study(STUDIES / name, profile=profile).reference_numbers()
    assert set(refs) == set(expected)
    for model, dataset, values in refs.values():
        results: dict[str, dict[str, float]] = {}
        for r in meta[model]["Results"]:
            results.setdefault(r["Dataset"], {}).update(r["Metrics"])
        assert dataset == ("COCO" if "COCO" in results else "COCO test-dev")
        assert values == {"segm_mAP": results[dataset]["mask AP"],
                          "bbox_mAP": results[dataset]["box AP"]}


def test_published_weights_missing_is_a_plan_error(published_env: tuple[Path, Path],
                                                   tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the files, planning Table 3's published profile names each missing file and
    its row, at the line of its models entry; nothing is planned."""
    from orchestrator.study.errors import StudyError

    workspace, _ = published_env
    monkeypatch.setenv("CM_WEIGHTS_DIR", str(tmp_path))
    study = load_study(STUDIES / "centermask_table3.yaml")
    with pytest.raises(StudyError) as err:
        plan_study(study, "published", workspace=workspace, repo_root=REPO_ROOT,
                   validate_build=False)
    problems = err.value.problems
    assert len(problems) == len(PUBLISHED["centermask_table3.yaml"]["published"])
    meta = _metafile()
    expected = PUBLISHED["centermask_table3.yaml"]["published"]
    for i, (p, (row, model)) in enumerate(zip(problems, expected.items(), strict=True)):
        assert str(tmp_path / meta[model]["Weights"]) in p.message and repr(row) in p.message
        assert p.line == study.line("profiles", "published", "evaluate", "models", i) > 0
