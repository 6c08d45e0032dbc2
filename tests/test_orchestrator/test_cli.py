"""The command line: registry, plan/run/status/cancel/retry, bad files, data toy."""
from __future__ import annotations

import json
import os
import signal
import time

import pytest

from orchestrator import cli
from orchestrator.cli import build_parser, main
from orchestrator.queue import SqliteQueue
from orchestrator.run.launching import sigterm_as_interrupt
from orchestrator.workspace import REPO_ROOT, find_study

from .conftest import FAKE_CONFIG, FIXTURES

FAKE_STUDY = str(FIXTURES / "fake_study.yaml")


def test_one_table_of_commands():
    names = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore
    assert names == {c.name for c in cli.COMMANDS}
    assert {"run", "plan", "status", "cancel", "retry", "ui", "data", "table", "figure",
            "trials", "bench"} <= names
    only_run = [c for c in cli.COMMANDS if c.name == "run"]
    assert set(build_parser(only_run)._subparsers._group_actions[0].choices) == {  # type: ignore
        "run"}


def test_building_the_parser_imports_no_torch():
    """``orchestrator --help`` stays instant: actions (and torch) load when a command runs."""
    import subprocess
    import sys

    code = ("import sys; from orchestrator.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'mlflow', 'mmdet', 'ray') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "[]"


def test_bench_takes_the_harness_arguments(capsys):
    """``orchestrator bench`` is the harness's own parser (no argv forwarding)."""
    args = build_parser().parse_args(["bench", "a.py", "b.py", "--runs", "3", "--threads", "2"])
    assert args.models == ["a.py", "b.py"] and args.runs == 3 and args.threads == 2
    assert args.action == "orchestrator.run.commands:cmd_bench"


def test_sigterm_during_a_run_is_an_interrupt():
    """``run`` (ablation and search) under SIGTERM cleans up as on Ctrl-C: the signal raises
    ``KeyboardInterrupt`` inside the block, and the previous handler is back after it."""
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), sigterm_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler runs at once (it interrupts the sleep)
    assert signal.getsignal(signal.SIGTERM) is before


def test_study_is_found_under_experiments():
    assert find_study("studies/smoke.yaml") == REPO_ROOT / "experiments/studies/smoke.yaml"


def test_bad_study_is_rejected_and_nothing_queued(write_study, tmp_path, capsys):
    bad = write_study(f"name: bad\nbase: {FAKE_CONFIG}\ndata: none\naxes:\n  lr:\n"
                      "    x: {optim_wrapper.optimizer.lrr: 0.1}\n")
    ws = tmp_path / "ws"
    assert main(["run", str(bad), "--workspace", str(ws)]) == 2
    out = capsys.readouterr().out
    assert f"{bad}:6: axes.lr.x.optim_wrapper.optimizer.lrr: no key" in out
    assert "nothing was queued" in out
    assert not (ws / "queue.db").exists() or SqliteQueue(ws / "queue.db").jobs() == []
    assert main(["plan", str(bad), "--workspace", str(ws)]) == 2


def test_plan_run_rerun_status(workspace, capsys):
    ws = str(workspace)
    assert main(["plan", FAKE_STUDY, "--workspace", ws]) == 0
    out = capsys.readouterr().out
    assert "4 job(s): 0 cached, 4 to run" in out and "nothing was run" in out
    assert "optim_wrapper.optimizer.lr: 0.01 -> 0.001" in out
    assert main(["run", FAKE_STUDY, "--workspace", ws, "--parallel", "1"]) == 0
    out = capsys.readouterr().out
    assert "fake-study: 4 succeeded, 0 failed, 0 cancelled" in out
    assert "orchestrator overhead:" in out
    assert main(["run", FAKE_STUDY, "--workspace", ws]) == 0
    assert "nothing to do: all 4 job(s) already finished" in capsys.readouterr().out
    assert main(["plan", FAKE_STUDY, "--workspace", ws]) == 0
    out = capsys.readouterr().out
    assert out.count("hit (done)") == 4 and "4 cached, 0 to run" in out
    assert main(["status", "--workspace", ws]) == 0
    assert "fake-study" in capsys.readouterr().out
    assert main(["status", FAKE_STUDY, "--workspace", ws]) == 0
    assert capsys.readouterr().out.count("succeeded") >= 4


def test_failed_jobs_retry_and_cancel(write_study, workspace, capsys):
    study = write_study(f"name: flaky\nbase: {FAKE_CONFIG}\ndata: none\nretries: 0\n"
                        "axes:\n  case:\n    ok: {}\n"
                        "    bad: {+job_runner.fail_attempts: 1}\n")
    ws = str(workspace)
    assert main(["run", str(study), "--workspace", ws, "--parallel", "1"]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "RuntimeError: fake failure at epoch 1, attempt 1" in out
    assert main(["run", str(study), "--workspace", ws]) == 1
    assert "1 failed earlier, 0 cancelled" in capsys.readouterr().out
    assert main(["status", str(study), "--workspace", ws]) == 0
    assert "failed" in capsys.readouterr().out
    assert main(["retry", str(study), "--failed", "--workspace", ws]) == 0
    assert "requeued 1 failed job(s) of flaky" in capsys.readouterr().out
    assert main(["cancel", str(study), "--workspace", ws]) == 0
    assert "cancelled 1 job(s) of flaky" in capsys.readouterr().out
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{workspace}/mlflow.db")
    exp = client.get_experiment_by_name("flaky")
    (bad,) = client.search_runs([exp.experiment_id], "tags.`cm.level.case` = 'bad'")
    assert bad.info.status == "KILLED" and bad.data.tags["cm.status"] == "cancelled"
    assert main(["retry", str(study), "--cancelled", "--workspace", ws]) == 0
    # Attempt 1 of the requeued job fails again by design; attempts restart with retry.
    assert main(["run", str(study), "--workspace", ws, "--parallel", "1"]) == 1
    jobs = {j.spec["name"]: j for j in SqliteQueue(workspace / "queue.db").jobs("flaky")}
    assert jobs["ok · seed 0"].state == "succeeded" and jobs["bad · seed 0"].attempts == 1
    (bad,) = client.search_runs([exp.experiment_id], "tags.`cm.level.case` = 'bad'")
    assert bad.info.status == "FAILED" and bad.data.tags["cm.status"] == "failed"
    assert "fake failure" in bad.data.tags["cm.error"]


def test_data_toy(tmp_path):
    out = tmp_path / "toy"
    assert main(["data", "toy", "--out", str(out), "--num-train", "2", "--num-val", "1",
                 "--size", "32", "32"]) == 0
    ann = json.loads((out / "annotations" / "instances_val.json").read_text())
    assert len(ann["images"]) == 1


def test_ui_serves_the_workspace_store_on_loopback(tmp_path, monkeypatch, capsys):
    calls = []
    # The server itself (and waiting for it) is test_cli_ui.py's; here: what is started.
    monkeypatch.setattr("orchestrator.run.ui.serve_web_ui",
                        lambda what, argv, *a, **k: calls.append(argv) or 0)
    assert main(["ui", "--workspace", str(tmp_path / "ws"), "--port", "5123"]) == 0
    (argv,) = calls
    assert argv[1:4] == ["-m", "mlflow", "ui"]
    assert argv[argv.index("--host") + 1] == "127.0.0.1" and "5123" in argv
    assert argv[argv.index("--backend-store-uri") + 1] == f"sqlite:///{tmp_path}/ws/mlflow.db"
