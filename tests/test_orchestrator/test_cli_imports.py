"""Commands with nothing heavy to do import nothing heavy (torch, mmdet, mlflow), and the
next commands a run suggests carry its workspace.

Each command runs in a fresh interpreter on a workspace where a one-job fake study has
run; the interpreter reports which heavy packages it imported.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from orchestrator.testing.studies import FAKE_CONFIG
from orchestrator.workspace import REPO_ROOT

HEAVY = ("torch", "mmdet", "mmcv", "mlflow", "optuna", "ray", "pandas")

#: Runs the orchestrator's CLI and prints the heavy packages it imported (last line).
_PROBE = textwrap.dedent(f"""
    import json, sys
    from orchestrator.cli import main
    try:
        rc = main(sys.argv[1:])
    except SystemExit as exc:
        rc = exc.code
    print(json.dumps({{"rc": rc, "heavy": sorted(m for m in {HEAVY!r} if m in sys.modules)}}))
""")


def _probe(*argv: str, workspace: Path) -> tuple[int, list[str], str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "CM_WORKSPACE": str(workspace)}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.run([sys.executable, "-c", _PROBE, *argv], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    last = proc.stdout.strip().splitlines()[-1]
    data = json.loads(last)
    return data["rc"], data["heavy"], proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory, mlflow_template: Path
        ) -> tuple[Path, Path, str]:
    """(workspace, study file, the run's output) after one run of a one-job fake study."""
    root = tmp_path_factory.mktemp("imports")
    study = root / "one.yaml"
    study.write_text(textwrap.dedent(f"""
        name: imports-one
        base: {FAKE_CONFIG}
        data: none
        resources: {{gpus_per_job: 0, cpus_per_job: 1}}
        profiles:
          t:
            patch: {{job_runner.epochs: 1, job_runner.step_s: 0.01}}
        table:
          title: one
          rows:
            - {{name: base, levels: {{}}}}
    """))
    ws = root / "ws"
    ws.mkdir()
    shutil.copy(mlflow_template, ws / "mlflow.db")  # an empty store: no schema creation
    proc = subprocess.run([sys.executable, "-m", "orchestrator.cli", "--workspace", str(ws),
                           "run", str(study), "--profile", "t", "--parallel", "1"],
                          cwd=REPO_ROOT,
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return ws, study, proc.stdout


def test_help_imports_nothing_heavy(tmp_path: Path) -> None:
    rc, heavy, out = _probe("--help", workspace=tmp_path)
    assert rc == 0 and "run" in out
    assert heavy == [], out


def test_status_imports_nothing_heavy(ran: tuple[Path, Path, str]) -> None:
    ws, study, _ = ran
    for argv in (["status"], ["status", str(study)]):
        rc, heavy, out = _probe(*argv, workspace=ws)
        assert rc == 0 and "1 succeeded" in out, out
        assert "torch" not in heavy and "mmdet" not in heavy, (argv, heavy)
        assert heavy == [], (argv, heavy, out)


def test_cancel_without_running_jobs_imports_nothing_heavy(ran: tuple[Path, Path, str]) -> None:
    ws, study, _ = ran
    rc, heavy, out = _probe("cancel", str(study), workspace=ws)
    assert rc == 0 and "cancelled 0 job(s)" in out, out
    assert heavy == [], out


def test_noop_run_imports_neither_torch_nor_mlflow(ran: tuple[Path, Path, str]) -> None:
    ws, study, _ = ran
    rc, heavy, out = _probe("run", str(study), workspace=ws)
    assert rc == 0 and "nothing to do" in out, out
    assert not {"torch", "mmdet", "mlflow"} & set(heavy), (heavy, out)


@pytest.mark.slow  # ~10 s: MLflow reads the store
def test_table_on_existing_store_imports_no_torch(ran: tuple[Path, Path, str]) -> None:
    ws, study, _ = ran
    rc, heavy, out = _probe("table", str(study), "--format", "md", workspace=ws)
    assert rc == 0 and "| base |" in out, out
    assert not {"torch", "mmdet"} & set(heavy), (heavy, out)


def test_run_hints_keep_the_workspace_and_profile(ran: tuple[Path, Path, str]) -> None:
    ws, study, out = ran
    see = out[out.index("see: "):].splitlines()
    assert see[0] == f"see: orchestrator status {study} --workspace {ws}"
    assert see[1].split() == ["orchestrator", "ui", "--workspace", str(ws)]
    assert see[2].split() == ["orchestrator", "table", str(study), "--profile", "t",
                              "--workspace", str(ws)]
    # ... and work as printed.
    rc, _, printed = _probe(*see[0].split()[2:], workspace=ws / "elsewhere")
    assert rc == 0 and "1 succeeded" in printed, printed


def test_toy_data_resolves_without_the_model_package(tmp_path: Path) -> None:
    """Planning a toy study (and so ``table``'s staleness check and a no-op ``run``) reads
    and fingerprints the toy set without importing ``centermask_mm`` (torch, mmdet)."""
    code = textwrap.dedent(f"""
        import json, sys
        from pathlib import Path
        from orchestrator.study.data import resolve_dataset, toy_module
        spec = toy_module().ToySpec(num_train=2, num_val=1, height=64, width=64)
        data = resolve_dataset("toy", Path({str(tmp_path)!r}), Path("."), toy_spec=spec)
        print(json.dumps({{"tag": data.tag, "classes": len(data.classes),
                          "heavy": sorted(m for m in {HEAVY!r} + ("centermask_mm",)
                                          if m in sys.modules)}}))
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["tag"].startswith("toy:") and out["classes"] == 5
    assert out["heavy"] == [], out
    assert (tmp_path / "data" / "toy" / "SPEC.json").exists()


def test_ui_imports_nothing_heavy(tmp_path: Path) -> None:
    """``ui`` starts MLflow's server as a child process; the command itself imports no MLflow
    (here the server gets half a second, so the command gives up and stops it)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rc, heavy, out = _probe("ui", "--port", str(port), "--wait", "0.5", workspace=tmp_path)
    assert rc == 1 and "did not answer" in out, out
    assert heavy == [], out
