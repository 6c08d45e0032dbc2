"""The notebooks in analysis/notebooks/ run against the fixture store (so they never rot)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from .fixture_store import FixtureStore

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "analysis" / "notebooks")
                   .glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path: Path, store: FixtureStore, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    from jupyter_client.kernelspec import NoSuchKernel

    monkeypatch.setenv("CM_STUDY", str(store.study_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.tracking_uri)
    monkeypatch.setenv("CM_FIGURE_PREFIX", str(tmp_path / "figure1"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("CM_STALENESS", "0")
    # A loaded machine may take minutes to start a kernel: generous start and cell timeouts,
    # and a fresh try when the kernel failed to start (never when a cell failed).
    for attempt in range(3):
        nb = nbformat.read(path, as_version=4)
        client = nbclient.NotebookClient(
            nb, timeout=600, startup_timeout=300, kernel_name="python3",
            resources={"metadata": {"path": str(path.parents[2])}})
        try:
            client.execute()
            break
        except NoSuchKernel:
            pytest.fail("Jupyter kernel 'python3' missing in this environment: run "
                        "`.venv/bin/python -m ipykernel install --sys-prefix`")
        except RuntimeError:  # "Kernel didn't respond", or it died (DeadKernelError)
            ran = any(c.get("execution_count") for c in nb.cells if c.cell_type == "code")
            if ran or attempt == 2:
                raise
    outputs = "".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/markdown", ""))
                      for cell in nb.cells if cell.cell_type == "code"
                      for o in cell.get("outputs", []))
    assert r"\begin{tabular}" in outputs and "VoVNetV1-39" in outputs
    assert (tmp_path / "figure1.png").stat().st_size > 0
    assert os.environ["CM_STUDY"] == str(store.study_path)
