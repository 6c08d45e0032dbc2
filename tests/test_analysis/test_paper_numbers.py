"""analysis/paper_numbers.yaml against the papers' own text.

The YAML was typed by hand; this test re-reads every table from the paper text files
(tab-separated rows) and compares number by number, so a typo cannot survive. It is
skipped where ../shared/papers is not available.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from analysis.paper import PaperNumbersError, paper_numbers, paper_table_ids

PAPERS = Path(__file__).resolve().parents[3] / "shared" / "papers"
CENTERMASK = PAPERS / "000_d78c6fc892bb67fa.txt"
SAIS = PAPERS / "002_d2f14dc46bea824e.txt"

AP8 = ["segm_mAP", "segm_mAP_s", "segm_mAP_m", "segm_mAP_l",
       "bbox_mAP", "bbox_mAP_s", "bbox_mAP_m", "bbox_mAP_l"]
AP6 = ["mAP", "mAP_50", "mAP_75", "mAP_s", "mAP_m", "mAP_l"]


def _cells(path: Path) -> list[list[str]]:
    """Tab-separated rows of a paper text, markup and citation brackets removed."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if "\t" not in line:
            continue
        cells = [re.sub(r"</?[bi]>", "", c) for c in line.split("\t")]
        cells = [re.sub(r"\s*\[\d+\]", "", c).strip() for c in cells]
        cells = [re.sub(r"\s+\)", ")", c) for c in cells]
        rows.append(cells)
    return rows


def _num(cell: str) -> float | None:
    """'35.5 (+0.2)' -> 35.5, '49.0M' -> 49.0, '-' / 'N/A' -> None."""
    cell = cell.split(" (")[0].rstrip("M")
    return None if cell in {"-", "N/A"} else float(cell)


def _check(table_id: str, expected: dict[str, dict[str, float | None]]) -> None:
    got = paper_numbers(table_id)
    assert list(got) == list(expected), f"{table_id}: row labels/order differ"
    for row, values in expected.items():
        assert set(got[row]) == set(values), f"{table_id} / {row}: columns differ"
        for col, value in values.items():
            assert got[row].get(col) == value, f"{table_id} / {row} / {col}"


needs_papers = pytest.mark.skipif(not CENTERMASK.exists() or not SAIS.exists(),
                                  reason="../shared/papers not available")


@needs_papers
def test_centermask_tables_match_paper_text() -> None:
    rows = _cells(CENTERMASK)
    t1 = {r[0]: dict(zip(["segm_mAP", "bbox_mAP", "time_ms"], map(_num, r[1:]), strict=True))
          for r in rows if len(r) == 4 and r[0] != "Component"}
    _check("centermask-table1", t1)

    t2 = {r[0]: {"segm_mAP": _num(r[1]), "bbox_mAP": _num(r[2])}
          for r in rows if len(r) == 3 and r[0].startswith("P3")}
    _check("centermask-table2", t2)

    t3 = {r[0]: dict(zip(["params_m", *AP8, "time_ms"], map(_num, r[1:]), strict=True))
          for r in rows if len(r) == 11 and r[0] != "Backbone"}
    _check("centermask-table3", t3)

    t4: dict[str, dict[str, float | None]] = {}
    group = ""
    for r in rows:
        if len(r) == 5 and r[0] != "Backbone":
            label = r[0]
            if label.startswith("VoVNetV1"):
                group = label
            else:
                label = f"{group} {label}"
            t4[label] = dict(zip(["params_m", "segm_mAP", "bbox_mAP", "time_ms"],
                                 map(_num, r[1:]), strict=True))
    _check("centermask-table4", t4)

    t5 = {}
    for r in rows:
        if len(r) == 14 and r[0] != "Method":
            values = dict(zip(["epochs", *AP8, "time_ms", "fps"], map(_num, r[2:13]),
                              strict=True))
            t5[f"{r[0]} ({r[1]})"] = {**values, "gpu": r[13]}
    _check("centermask-table5", t5)


@needs_papers
def test_sais_tables_match_paper_text() -> None:
    rows = _cells(SAIS)
    t1 = {r[0]: {"size": r[1], "bbox_mAP": _num(r[2]), "segm_mAP": _num(r[3])}
          for r in rows if len(r) == 4 and r[0] != "input"}
    _check("sais-table1", t1)

    t2 = {}
    method = ""
    for r in rows:
        if len(r) == 8 and r[0] != "Method":
            method = r[0] or method
            label = method + (" w/ c" if r[1] == "✓" else "")
            prefix = "bbox_" if method == "FCOS" else "segm_"
            t2[label] = {prefix + c: _num(v) for c, v in zip(AP6, r[2:], strict=True)}
    _check("sais-table2", t2)

    t3 = {f"{r[0]} fusion": {"segm_" + c: _num(v) for c, v in zip(AP6, r[1:], strict=True)}
          for r in rows if len(r) == 7 and r[0] in {"w/o", "w/"}}
    _check("sais-table3", t3)

    t4 = {}
    for r in rows:
        if len(r) == 13 and r[0] != "Method":
            values = {"segm_" + c: _num(v) for c, v in zip(AP6, r[4:10], strict=True)}
            t4[f"{r[0]} ({r[1]})"] = {"epochs": _num(r[2]), "aug": r[3] == "✓", **values,
                                      "fps": _num(r[10]), "train_mem_gb": _num(r[11]),
                                      "gpu": r[12]}
    _check("sais-table4", t4)


def test_figure_aliases_and_errors() -> None:
    assert paper_numbers("centermask-figure1-top") == paper_numbers("centermask-table5")
    assert "centermask-table4" in paper_table_ids()
    with pytest.raises(PaperNumbersError, match="centermask-table9"):
        paper_numbers("centermask-table9")


def test_declared_columns_cover_the_rows() -> None:
    from analysis.paper import paper_table_info
    from analysis.spec import column_spec

    extras = {"epochs", "gpu", "fps", "train_mem_gb", "aug", "size"}
    for table_id in paper_table_ids():
        info = paper_table_info(table_id)
        columns = set(info["columns"])
        for c in columns:
            column_spec(c)  # every declared column is a valid table column
        for row, values in paper_numbers(table_id).items():
            assert set(values) <= columns | extras, f"{table_id} / {row}"
