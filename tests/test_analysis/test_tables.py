"""Tables from the fixture MLflow store: goldens, seeds, staleness, missing cells, lineage."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from analysis.cli import main
from analysis.render import latex_caption_title, latex_escape, render
from analysis.report import load_study, study_table
from analysis.spec import StudySpecError, column_spec, parse_table
from analysis.tables import TableBuildError, build_table, manifest

from .fixture_store import STUDY_NAME, FixtureStore

GOLDEN = Path(__file__).with_name("golden")
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def _table(store: FixtureStore, expected: bool = True):  # noqa: ANN202
    return study_table(store.study_path, tracking_uri=store.tracking_uri,
                       expected=store.expected if expected else None)


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} missing; run with UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8"), \
        f"{name} differs from the golden file; if the change is intended, UPDATE_GOLDEN=1"


@pytest.mark.parametrize("fmt,suffix", [("latex", "tex"), ("md", "md"), ("csv", "csv")])
def test_golden_outputs(store: FixtureStore, fmt: str, suffix: str) -> None:
    table, _ = _table(store)
    _golden(f"fixture-table4.{suffix}", store.normalize(render(table, fmt)))


def test_golden_delta_layout(store: FixtureStore) -> None:
    table, _ = _table(store)
    _golden("fixture-table4-delta.md", store.normalize(render(table, "md", "delta")))


def test_seeds_mean_std_and_noise(store: FixtureStore) -> None:
    table, _ = _table(store)
    base = table.cell("VoVNetV1-39", "segm_mAP")
    assert base.seeds == [0, 1, 2]
    assert base.mean == pytest.approx(35.3) and base.std == pytest.approx(0.3)
    assert base.noise is None  # the baseline is not compared with itself
    res = table.cell("+ residual", "segm_mAP")
    assert res.noise is not None and res.noise.test == "paired-t" and res.within_noise
    # Box AP +0.1 on every seed: a consistent shift is real, not noise.
    assert table.cell("+ residual", "bbox_mAP").noise.within_noise is False
    assert table.cell("+ eSE", "segm_mAP").within_noise is False
    # params are deterministic: never tested.
    assert table.cell("+ residual", "params_m").noise is None


def test_missing_is_not_zero(store: FixtureStore) -> None:
    table, _ = _table(store)
    se = table.cell("+ SE", "segm_mAP")
    assert se.missing and se.mean is None and se.n == 0
    zero = table.cell("+ residual", "segm_mAP_s")
    assert not zero.missing and zero.mean == 0.0
    assert table.cell("+ residual", "time_ms").missing  # never logged
    tex = render(table, "latex")
    se_line = next(line for line in tex.splitlines() if line.strip().startswith(r"+ SE &"))
    assert se_line.count("--") == 5 and "0.0" not in se_line
    res_line = next(line for line in tex.splitlines()
                    if line.strip().startswith(r"+ residual &"))
    assert "0.0" in res_line and res_line.removesuffix(r" \\").endswith("--")
    csv_row = next(line for line in render(table, "csv").splitlines()
                   if line.startswith("+ SE,"))
    assert ",0," in csv_row and ",0.0," not in csv_row
    md = render(table, "md")
    assert "| + SE | -- | -- | -- | -- | -- |" in md


def test_staleness_and_superseded(store: FixtureStore) -> None:
    table, _ = _table(store)
    ese = next(r for r in table.rows if r.name == "+ eSE")
    assert ese.stale and table.cell("+ eSE", "segm_mAP").stale
    ids = store.run_ids
    # Seed 0: the current run wins over the older stale one; seed 2: only a stale run.
    assert [r.run_id for r in ese.runs] == [ids["v2-39/s0"], ids["v2-39/s1"],
                                            ids["v2-39/s2-old"]]
    assert ese.superseded == [ids["v2-39/s0-old"]]
    assert ese.missing_job_hashes == ["h-v2-39-s2"]
    assert not any(r.stale for r in table.rows if r.name != "+ eSE")
    se = next(r for r in table.rows if r.name == "+ SE")
    assert se.failed == [ids["v1-39-se/s0"]] and not se.stale


def test_without_expected_hashes(store: FixtureStore) -> None:
    table, _ = _table(store, expected=False)
    assert not any(r.stale for r in table.rows)
    # Without the plan, seed 0 takes the latest run, and the deduplicated run is not found.
    ese = next(r for r in table.rows if r.name == "+ eSE")
    assert ese.runs[0].run_id == store.run_ids["v2-39/s0"]
    assert table.cell("VoVNetV2-57", "segm_mAP").missing
    assert "dagger" not in render(table, "latex")


def test_deduplicated_run_found_by_hash(store: FixtureStore) -> None:
    table, runs = _table(store)
    cell = table.cell("VoVNetV2-57", "segm_mAP")
    assert cell.run_ids == [store.run_ids["v2-57/s0"]] and cell.mean == pytest.approx(36.6)
    assert cell.std is None and cell.noise.test == "pooled-std"
    assert set(runs["study"]) == {STUDY_NAME, "fixture-table3"}


def test_manifest_lineage(store: FixtureStore, tmp_path: Path) -> None:
    table, _ = _table(store)
    data = json.loads(json.dumps(manifest(table, tracking_uri=store.tracking_uri,
                                          link_base="http://mlflow:5000/")))
    row = next(r for r in data["rows"] if r["name"] == "VoVNetV1-39")
    cell = row["cells"]["segm_mAP"]
    assert cell["run_ids"] == [store.run_ids[f"v1-39/s{s}"] for s in range(3)]
    assert cell["job_hashes"] == ["h-v1-39-s0", "h-v1-39-s1", "h-v1-39-s2"]
    assert cell["git_commits"] == ["c0ffee1"] and cell["values"]["1"] == pytest.approx(35.3)
    assert cell["paper"] == 35.3 and cell["metric"] == "test/coco/segm_mAP"
    assert row["runs"][0]["url"].startswith("http://mlflow:5000/#/experiments/")
    ese = next(r for r in data["rows"] if r["name"] == "+ eSE")
    assert ese["stale"] and ese["cells"]["segm_mAP"]["git_commits"] == ["c0ffee1", "deadbee"]
    assert data["datasets"] == ["toy:f1x7ure"] and data["profile"] == "toy"


def test_latex_lineage_comments(store: FixtureStore) -> None:
    table, _ = _table(store)
    tex = render(table, "latex")
    assert f"% row VoVNetV1-39: seeds 0,1,2; runs {store.run_ids['v1-39/s0']}" in tex
    assert "% cell + residual/time_ms: runs none" in tex
    assert f"superseded runs {store.run_ids['v2-39/s0-old']}" in tex
    assert r"\toprule" in tex and r"\textbf{" in tex and r"$^{\dagger}$" in tex


def test_cli_table_and_manifest(store: FixtureStore, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    out, man = tmp_path / "t.md", tmp_path / "m.json"
    rc = main(["table", str(store.study_path), "--tracking-uri", store.tracking_uri,
               "--format", "md", "--out", str(out), "--manifest", str(man), "--no-staleness"])
    assert rc == 0
    table, _ = _table(store, expected=False)
    assert out.read_text() == render(table, "md")
    assert json.loads(man.read_text())["study"] == STUDY_NAME
    rc = main(["table", str(store.study_path), "--tracking-uri", store.tracking_uri,
               "--profile", "paper", "--format", "csv", "--no-staleness"])
    assert rc == 0 and "VoVNetV1-39" in capsys.readouterr().out  # all cells missing
    rc = main(["table", str(tmp_path / "nope.yaml"), "--tracking-uri", store.tracking_uri])
    assert rc == 2 and "nope.yaml" in capsys.readouterr().err


def test_profile_must_not_mix(store: FixtureStore) -> None:
    _, runs = _table(store)
    mixed = runs.copy()
    mixed.loc[mixed["run_id"] == store.run_ids["v1-39/s0"], "profile"] = "paper"
    spec = load_study(store.study_path).table
    with pytest.raises(TableBuildError, match="several profiles"):
        build_table(mixed, spec, study=STUDY_NAME)
    table = build_table(mixed, spec, study=STUDY_NAME, default_profile="toy")
    assert table.profile == "toy" and table.cell("VoVNetV1-39", "segm_mAP").n == 2
    with pytest.raises(TableBuildError, match="unknown row"):
        build_table(runs, spec, study=STUDY_NAME, expected={"nope": {"x"}})


@pytest.mark.parametrize("patch,key", [
    ({"columns": ["segm_AP"]}, "table.columns[0]"),
    ({"decimals": -1}, "table.decimals"),
    ({"baseline": "nope"}, "table.baseline"),
    ({"rows": [{"name": "a", "levels": {"depth": "x"}}]}, "table.rows[0].levels.depth"),
    ({"rows": [{"name": "a", "levels": {"backbone": "v9"}}]}, "table.rows[0].levels.backbone"),
    ({"rows": [{"name": "a"}, {"name": "a"}]}, "table.rows"),
    ({"rows": [{"name": "a", "lvls": {}}]}, "table.rows[0]"),
    ({"paper": {"nope": {"segm_mAP": 1}}}, "table.paper.nope"),
    ({"paper": "centermask-table99"}, "table.paper"),
])
def test_bad_table_section_names_key(patch: dict, key: str) -> None:
    raw = {"rows": [{"name": "a", "levels": {"backbone": "v1"}}], "columns": ["segm_mAP"]}
    raw.update(patch)
    with pytest.raises(StudySpecError) as e:
        parse_table(raw, where="s.yaml", axes={"backbone": ["v1"]})
    assert str(e.value).startswith(f"s.yaml: {key}:")


def test_paper_reference_by_id() -> None:
    spec = parse_table({"rows": [{"name": "VoVNetV1-39"}, {"name": "VoVNetV1-39 + eSE, ours"}],
                        "paper": "centermask-table4"})
    assert spec.paper_ref == "centermask-table4"
    assert spec.paper["VoVNetV1-39 + eSE, ours"]["segm_mAP"] == 35.6
    assert set(spec.paper) == {"VoVNetV1-39", "VoVNetV1-39 + eSE, ours"}


@pytest.mark.parametrize("title, caption", [
    ("Table 4: VoVNetV2, from VoVNetV1", "VoVNetV2, from VoVNetV1 (paper's Table 4)"),
    ("Table IV: SAIS against the state of the art.", "SAIS against the state of the art "
     "(paper's Table IV)"),
    ("CenterMask-Lite (Table 5, Lite rows)", "CenterMask-Lite (Table 5, Lite rows)"),
    ("Smoke: backbones", "Smoke: backbones"),
])
def test_latex_caption_has_no_second_table_number(title: str, caption: str) -> None:
    # \caption prints "Table 1:" itself; "Table 1: Table 4: ..." was the result.
    assert latex_caption_title(title) == caption


def test_latex_rules_between_row_groups(store: FixtureStore) -> None:
    table, _ = _table(store)
    body = render(table, "latex").split(r"\midrule", 1)[1].split(r"\bottomrule")[0]
    lines = [ln.strip() for ln in body.splitlines() if ln.strip()
             and not ln.strip().startswith("%")]
    # One rule, right above the first row of the second group (VoVNetV2-57).
    assert [ln for ln in lines if ln == r"\midrule"] == [r"\midrule"]
    assert lines[lines.index(r"\midrule") + 1].startswith("VoVNetV2-57 &")
    assert "\\caption{VoVNetV2 ablation (fixture) (paper's Table 4). " in render(table, "latex")


def test_markdown_headers_read_as_text(store: FixtureStore) -> None:
    table, _ = _table(store)
    header = render(table, "md").splitlines()[2]
    assert header == "| Backbone | mask AP | mask AP (S) | box AP | Params (M) | Time (ms) |"
    assert column_spec("bbox_mAP_50").markdown == "box AP50"
    assert column_spec("segm_mAP_l").markdown == "mask AP (L)"


def test_row_group_must_be_a_row_key() -> None:
    spec = parse_table({"title": "t", "rows": [
        {"name": "a", "levels": {}, "group": 39}, {"name": "b", "levels": {}}],
        "columns": ["segm_mAP"]})
    assert [r.group for r in spec.rows] == ["39", None]


def test_latex_escape() -> None:
    assert latex_escape("P3 ~ P7 & 50% w/ c_1") == \
        r"P3 \textasciitilde{} P7 \& 50\% w/ c\_1"


def test_latex_compiles(store: FixtureStore, tmp_path: Path) -> None:
    engine = shutil.which("latexmk") or shutil.which("pdflatex")
    if engine is None:
        pytest.skip("no LaTeX engine (latexmk/pdflatex) installed")
    table, _ = _table(store)
    doc = tmp_path / "doc.tex"
    doc.write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
                   + render(table, "latex") + "\\end{document}\n", encoding="utf-8")
    cmd = [engine, "-pdf", "-interaction=nonstopmode", doc.name] if "latexmk" in engine \
        else [engine, "-interaction=nonstopmode", "-halt-on-error", doc.name]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 0


def test_cli_staleness_from_orchestrator_hook(store: FixtureStore, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI reads the study through ``orchestrator.describe_study`` and asks the view it
    returns for the current hashes (of the default profile when none is given)."""
    import orchestrator
    from orchestrator.study.view import StudyView

    described = []
    real = orchestrator.describe_study

    def describe(study, profile=None, workspace=None):  # noqa: ANN001, ANN202
        described.append((Path(study), profile, workspace))
        return real(study, profile=profile, workspace=workspace)

    calls = []

    def fake(view: StudyView) -> dict[str, set[str]]:
        calls.append((view.path, view.profile, view.workspace))
        return store.expected

    monkeypatch.setattr(orchestrator, "describe_study", describe)
    monkeypatch.setattr(StudyView, "expected_job_hashes", fake)
    rc = main(["table", str(store.study_path), "--tracking-uri", store.tracking_uri,
               "--format", "latex"])
    assert rc == 0 and described == [(store.study_path, None, None)]
    assert calls == [(store.study_path, "toy", None)]
    out = capsys.readouterr().out
    assert store.normalize(out) == (GOLDEN / "fixture-table4.tex").read_text()


def test_load_runs_never_creates_a_store(tmp_path: Path) -> None:
    from analysis.runs import load_runs

    with pytest.raises(FileNotFoundError, match="no MLflow store"):
        load_runs(f"sqlite:///{tmp_path / 'none.db'}", study="x")
    assert not (tmp_path / "none.db").exists()
    with pytest.raises(ValueError, match="study name and/or job hashes"):
        load_runs(f"sqlite:///{tmp_path / 'none.db'}")


def test_study_without_table_section(store: FixtureStore, tmp_path: Path) -> None:
    """Without a table section: one row per level combination, the {} level as baseline."""
    text = store.study_path.read_text().split("table:")[0]
    path = tmp_path / "notable.yaml"
    path.write_text(text)
    table, _ = study_table(path, tracking_uri=store.tracking_uri)
    assert [r.name for r in table.rows] == ["backbone=v1-39", "backbone=v1-39-res",
                                            "backbone=v1-39-se", "backbone=v2-39"]
    assert table.rows[0].baseline == "backbone=v2-39"  # the {} level is the baseline
    assert table.rows[3].baseline is None
    assert table.cell("backbone=v1-39", "segm_mAP").mean == pytest.approx(35.3)
    assert table.cell("backbone=v1-39-se", "segm_mAP").missing
