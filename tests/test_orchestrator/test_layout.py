"""The one-way layout of docs/architecture.md, checked on the import statements."""
from __future__ import annotations

import ast

import pytest

from orchestrator.workspace import REPO_ROOT


def _imports(folder: str) -> dict[str, set[str]]:
    """File (repo-relative) -> absolute module names it imports (relative ones resolved)."""
    out: dict[str, set[str]] = {}
    for path in sorted((REPO_ROOT / folder).rglob("*.py")):
        rel = path.relative_to(REPO_ROOT)
        package = list(rel.with_suffix("").parts[:-1])
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_bytes())):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[: len(package) - (node.level - 1)]
                    module = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    module = node.module or ""
                names |= {module} | {f"{module}.{a.name}" for a in node.names}
        out[str(rel)] = names
    return out


def _offenders(folder: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    bad = {f: sorted(n for n in names if n.split(".")[0] in forbidden
                     or any(n == p or n.startswith(p + ".") for p in forbidden))
           for f, names in _imports(folder).items()}
    return {f: n for f, n in bad.items() if n}


@pytest.mark.parametrize(("folder", "forbidden"), [
    ("centermask_mm", ("orchestrator", "analysis", "benchmarks")),
    ("benchmarks", ("orchestrator", "analysis")),
])
def test_lower_layers_do_not_import_upper_ones(folder, forbidden):
    assert _offenders(folder, forbidden) == {}


def test_production_code_does_not_know_its_test_doubles():
    imports = {f: n for f, n in _imports("orchestrator").items()
               if not f.startswith("orchestrator/testing/") and f != "orchestrator/overhead.py"}
    assert {f: sorted(m for m in n if m.startswith("orchestrator.testing"))
            for f, n in imports.items() if any(m.startswith("orchestrator.testing")
                                               for m in n)} == {}
    # No branch on a fake job either: no name or string (docstrings aside) mentions one.
    mentions = {}
    for f in imports:
        tree = ast.parse((REPO_ROOT / f).read_bytes())
        docs = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}
        words = [n.id for n in ast.walk(tree) if isinstance(n, ast.Name)]
        words += [n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)]
        words += [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
                  and isinstance(n.value, str) and id(n) not in docs]
        if hits := [w for w in words if "fake" in w.lower()]:
            mentions[f] = hits
    assert mentions == {}


def test_analysis_calls_the_orchestrator_through_one_function():
    used = {m for names in _imports("analysis").values() for m in names
            if m.split(".")[0] == "orchestrator"}
    assert used <= {"orchestrator"}
    # ... and that one function is describe_study, called once (analysis/report.py).
    calls = {f: [n.func.attr for n in ast.walk(ast.parse((REPO_ROOT / f).read_bytes()))
                 if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                 and isinstance(n.func.value, ast.Name) and n.func.value.id == "orchestrator"]
             for f in _imports("analysis")}
    assert {f: c for f, c in calls.items() if c} == {"analysis/report.py": ["describe_study"]}


def test_search_scheduler_uses_only_the_public_hooks_of_the_scheduler():
    """No ``self._x`` of the base class in the search's run loop, no private override."""
    def private(path: str, kind: type) -> set[str]:
        tree = ast.parse((REPO_ROOT / path).read_bytes())
        if kind is ast.FunctionDef:
            return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)
                    and n.name.startswith("_") and not n.name.startswith("__")}
        return {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                and isinstance(n.value, ast.Name) and n.value.id == "self"
                and n.attr.startswith("_") and not n.attr.startswith("__")}

    base = private("orchestrator/run/scheduler.py", ast.Attribute) | private(
        "orchestrator/run/scheduler.py", ast.FunctionDef)
    search = "orchestrator/search/scheduler.py"
    assert private(search, ast.Attribute) & base == set()
    assert private(search, ast.FunctionDef) & base == set()
    text = (REPO_ROOT / search).read_text()
    assert '" | "' not in text and "job.json" not in text.replace("``job.json``", "")
