"""Print a :class:`~analysis.tables.Table` as LaTeX (booktabs), Markdown or CSV.

Markers (explained in each table's caption or notes, and in docs/analysis.md):

* ``mean ± std`` where a cell has several seeds (sample std);
* bold: best printed value of a column (max for AP, min for time; params are not ranked);
* ``≈`` (LaTeX ``$^{\\approx}$``): the row's difference from its baseline row is within
  seed-to-seed noise;
* ``‡`` (LaTeX ``$^{\\ddagger}$``): a time measured while other processes used the cores
  (``cm.time_contended``), never bold;
* ``†`` (LaTeX ``$^{\\dagger}$``): stale, some run of the cell has a job hash that the
  current code and config no longer produce;
* ``--``: no run, never zero.
"""
from __future__ import annotations

import csv
import io
import re

from ._options import FORMATS, PAPER_MODES
from .stats import ALPHA
from .tables import Cell, Row, Table

MISSING = "--"

_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters in plain text."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def _num(x: float, decimals: int) -> str:
    s = f"{x:.{decimals}f}"
    return s[1:] if s.startswith("-") and float(s) == 0 else s


def _signed(x: float, decimals: int) -> str:
    s = _num(x, decimals)
    return s if s.startswith("-") else "+" + s


def _paper_value(cell: Cell) -> float | None:
    v = cell.paper
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _used_markers(table: Table) -> dict[str, bool]:
    cells = [c for r in table.rows for c in r.cells.values()]
    return {
        "std": any(c.n >= 2 for c in cells),
        "noise": any(c.within_noise for c in cells),
        "stale": any(c.stale for c in cells),
        "contended": any(c.contended for c in cells),
        "missing": any(c.missing for c in cells),
        "paper": any(_paper_value(c) is not None for c in cells),
    }


def _baselines(table: Table) -> list[str]:
    return sorted({r.baseline for r in table.rows if r.baseline})


def _data_note(table: Table) -> str | None:
    toy = [d for d in table.datasets if d.startswith("toy")]
    if toy:
        return (f"Data: synthetic toy set ({', '.join(toy)}); not comparable with the paper's "
                "COCO numbers")
    if table.datasets:
        return f"Data: {', '.join(table.datasets)}"
    return None


def notes(table: Table, paper_mode: str, *, latex: bool) -> list[str]:
    """The sentences that explain the table's markers (only those that occur)."""
    used = _used_markers(table)
    approx, dagger, pm = (r"$^{\approx}$", r"$^{\dagger}$", r"$\pm$") if latex else \
        ("≈", "†", "±")
    esc = latex_escape if latex else (lambda s: s)
    out = []
    if (d := _data_note(table)) is not None:
        out.append(esc(d))
    if any(c.name.startswith(("segm_", "bbox_")) for c in table.columns):
        out.append("AP in " + (r"\%" if latex else "%"))
    if used["std"]:
        out.append(f"mean {pm} sample standard deviation over seeds where a cell has several")
    if used["noise"]:
        base = ", ".join(esc(b) for b in _baselines(table))
        ge = r"$p \geq " + f"{ALPHA:g}$" if latex else f"p ≥ {ALPHA:g}"
        le = r"$|\Delta| \leq$" if latex else "|Δ| ≤"
        out.append(f"{approx}: difference from the baseline row ({base}) within seed-to-seed "
                   f"noise (paired t-test over shared seeds, {ge}; with fewer than two shared "
                   f"seeds, {le} pooled std)")
    if used["stale"]:
        out.append(f"{dagger}: stale, from a job hash that the current code and config no "
                   "longer produce")
    if any(c.name == "time_ms" for c in table.columns):
        hw = ", ".join(table.time_hardware) or "the jobs' machine"
        out.append(esc(f"Time: median batch-1 inference latency in ms of each trained model, "
                       f"measured by its job on {hw} with the machine's cores to itself"))
    if used["contended"]:
        ddag = r"$^{\ddagger}$" if latex else "‡"
        out.append(f"{ddag}: time measured while other processes used the machine's cores, "
                   "or by a job that did not record it (cm.time_contended); not ranked")
    if used["missing"]:
        out.append(f"{MISSING}: no run")
    if used["paper"] and paper_mode == "rows":
        out.append("italic rows: the paper's published numbers" if latex else
                   "rows marked “paper”: the paper's published numbers")
    if used["paper"] and paper_mode != "none" and table.spec.reference_note:
        out.append(esc(table.spec.reference_note))
    if used["paper"] and paper_mode == "delta":
        out.append("in parentheses: difference from the paper's published number")
    return out


def _cell_text(table: Table, row: Row, col_name: str, paper_mode: str, *, latex: bool,
               best: set[str]) -> str:
    cell = row.cells[col_name]
    col = cell.column
    if cell.missing:
        return MISSING
    mean_s = _num(cell.mean or 0.0, col.decimals)
    if row.name in best:
        mean_s = rf"\textbf{{{mean_s}}}" if latex else f"**{mean_s}**"
    text = mean_s
    # A deterministic column (params) shows its spread only if the seeds disagree.
    if cell.std is not None and (col.noise_test or cell.std > 0):
        std_s = _num(cell.std, col.decimals)
        text += rf"{{\scriptsize$\pm${std_s}}}" if latex else f" ± {std_s}"
    marks = ("≈" if cell.within_noise else "") + ("†" if cell.stale else "") + (
        "‡" if cell.contended else "")
    if marks:
        if latex:
            marks = marks.replace("≈", r"\approx").replace("†", r"\dagger").replace(
                "‡", r"\ddagger")
            text += f"$^{{{marks}}}$"
        else:
            text += f" {marks}"
    pv = _paper_value(cell)
    if paper_mode == "delta" and pv is not None and cell.mean is not None:
        d = _signed(round(cell.mean, col.decimals) - pv, col.decimals)
        text += rf" {{\scriptsize({d})}}" if latex else f" ({d})"
    return text


def _paper_row(table: Table, row: Row, *, latex: bool) -> list[str] | None:
    values = [_paper_value(row.cells[c.name]) for c in table.columns]
    if all(v is None for v in values):
        return None
    out = []
    for col, v in zip(table.columns, values, strict=True):
        if v is None:
            out.append(MISSING)
        else:
            s = _num(v, col.decimals)
            out.append(rf"\textit{{{s}}}" if latex else f"*{s}*")
    return out


def _lineage_comment(row: Row) -> list[str]:
    lines = []
    if row.runs:
        seeds = ",".join("?" if r.seed is None else str(r.seed) for r in row.runs)
        lines.append(f"% row {row.name}: seeds {seeds}; runs "
                     + " ".join(r.run_id for r in row.runs)
                     + "; job hashes " + " ".join(str(r.job_hash) for r in row.runs)
                     + "; commits " + " ".join(sorted({
                         str(r.git_commit) + ("-dirty" if r.git_dirty else "")
                         for r in row.runs})))
    else:
        lines.append(f"% row {row.name}: no runs")
    all_ids = [r.run_id for r in row.runs]
    for name, cell in row.cells.items():
        if cell.run_ids != all_ids and row.runs:
            ids = " ".join(cell.run_ids) or "none"
            lines.append(f"% cell {row.name}/{name}: runs {ids}")
    if row.superseded:
        lines.append(f"% row {row.name}: superseded runs " + " ".join(row.superseded))
    return lines


#: A title that names the paper's table ("Table 4: ...", "Table IV: ..."): LaTeX's
#: ``\\caption`` numbers the table itself, so the caption moves the reference to its end.
_PAPER_TABLE_PREFIX = re.compile(r"^\s*(Table\s+[0-9IVXLC]+)\s*[:.]\s*(?=\S)")


def latex_caption_title(title: str) -> str:
    """``title`` for ``\\caption`` (unescaped): ``Table 4: X`` becomes ``X (paper's Table 4)``."""
    title = title.strip().rstrip(".")
    m = _PAPER_TABLE_PREFIX.match(title)
    return f"{title[m.end():]} (paper's {m.group(1)})" if m else title


def _group_starts(table: Table) -> set[int]:
    """Indices of rows that start a new ``group`` (a rule goes above them), never the first."""
    groups = [r.spec.group for r in table.rows]
    return {i for i in range(1, len(groups)) if groups[i] != groups[i - 1]}


def to_latex(table: Table, paper_mode: str = "rows") -> str:
    """A ``table`` float with a booktabs ``tabular``; needs ``\\usepackage{booktabs}``.

    A ``\\midrule`` separates row groups (the rows' ``group``, e.g. Table 4's depths).
    """
    spec = table.spec
    best = {c.name: table.best(c) for c in table.columns}
    caption = latex_escape(latex_caption_title(spec.title or table.study))
    note = notes(table, paper_mode, latex=True)
    if note:
        caption += ". " + "; ".join(note) + "."
    header = [latex_escape(spec.row_header)] + [c.latex for c in table.columns]
    lines = [
        "% Generated from MLflow runs by `python -m analysis table`; do not edit by hand.",
        f"% study: {table.study}; profile: {table.profile or '-'}; "
        f"staleness checked: {'yes' if table.expected_known else 'no'}",
        r"% Needs \usepackage{booktabs}.",
        r"\begin{table}[t]",
        r"  \centering",
        rf"  \caption{{{caption}}}",
    ]
    if spec.label:
        lines.append(rf"  \label{{{spec.label}}}")
    lines += [
        r"  \begin{tabular}{l" + "c" * len(table.columns) + "}",
        r"    \toprule",
        "    " + " & ".join(header) + r" \\",
        r"    \midrule",
    ]
    starts = _group_starts(table)
    for i, row in enumerate(table.rows):
        if i in starts:
            lines.append(r"    \midrule")
        lines += ["    " + c for c in _lineage_comment(row)]
        cells = [_cell_text(table, row, c.name, paper_mode, latex=True, best=best[c.name])
                 for c in table.columns]
        lines.append("    " + " & ".join([latex_escape(row.name)] + cells) + r" \\")
        if paper_mode == "rows" and (prow := _paper_row(table, row, latex=True)):
            lines.append("    " + " & ".join([r"\quad\textit{paper}"] + prow) + r" \\")
    lines += [r"    \bottomrule", r"  \end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)


def to_markdown(table: Table, paper_mode: str = "rows") -> str:
    """A GitHub-flavoured Markdown table with a bold title line and notes below."""
    spec = table.spec
    best = {c.name: table.best(c) for c in table.columns}

    def esc(s: str) -> str:
        return s.replace("|", r"\|")

    title = spec.title or table.study
    lines = [f"**{esc(title)}**" + (f" (`{spec.label}`)" if spec.label else ""), ""]
    lines.append("| " + " | ".join([esc(spec.row_header)] + [c.markdown for c in
                                                              table.columns]) + " |")
    lines.append("|:--" + "|--:" * len(table.columns) + "|")
    for row in table.rows:
        cells = [_cell_text(table, row, c.name, paper_mode, latex=False, best=best[c.name])
                 for c in table.columns]
        lines.append("| " + " | ".join([esc(row.name)] + cells) + " |")
        if paper_mode == "rows" and (prow := _paper_row(table, row, latex=False)):
            lines.append("| " + " | ".join(["↳ *paper*"] + prow) + " |")
    note = notes(table, paper_mode, latex=False)
    if note:
        lines += ["", "; ".join(note) + "."]
    lines.append("")
    return "\n".join(lines)


def _yes_no(b: bool | None) -> str:
    return "" if b is None else ("yes" if b else "no")


def _csv_num(x: float | None) -> str:
    return "" if x is None else repr(round(x, 4) + 0.0)


def to_csv(table: Table, paper_mode: str = "rows") -> str:
    """One line per table row; per column: mean, std, n, paper, noise, p, stale.

    Values are in printed units (AP x100) rounded to 4 decimals; empty = missing. The last
    columns carry the lineage (space-separated run ids, job hashes, commits).
    """
    del paper_mode  # the paper numbers always have their own columns
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    header = ["row", "baseline", "stale"]
    for c in table.columns:
        n = c.name
        header += [n, f"{n}_std", f"{n}_n", f"{n}_paper", f"{n}_within_noise", f"{n}_p_value",
                   f"{n}_stale"]
    header += ["seeds", "run_ids", "job_hashes", "git_commits"]
    w.writerow(header)
    for row in table.rows:
        line = [row.name, row.baseline or "", _yes_no(row.stale)]
        for c in table.columns:
            cell = row.cells[c.name]
            v = cell.noise
            line += [_csv_num(cell.mean), _csv_num(cell.std), str(cell.n),
                     _csv_num(_paper_value(cell)),
                     _yes_no(None if v is None else v.within_noise),
                     _csv_num(None if v is None else v.p_value), _yes_no(cell.stale)]
        line += [" ".join("" if r.seed is None else str(r.seed) for r in row.runs),
                 " ".join(r.run_id for r in row.runs),
                 " ".join(str(r.job_hash) for r in row.runs),
                 " ".join(sorted({str(r.git_commit) for r in row.runs}))]
        w.writerow(line)
    return out.getvalue()


def render(table: Table, fmt: str, paper_mode: str = "rows") -> str:
    """Dispatch on ``fmt`` (``latex``, ``md`` or ``csv``)."""
    if paper_mode not in PAPER_MODES:
        raise ValueError(f"paper mode {paper_mode!r}: expected one of {PAPER_MODES}")
    renderers = {"latex": to_latex, "md": to_markdown, "csv": to_csv}
    if fmt not in renderers:
        raise ValueError(f"format {fmt!r}: expected one of {FORMATS}")
    return renderers[fmt](table, paper_mode)
