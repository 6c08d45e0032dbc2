"""Issue 16: concurrent starts (D7, D8), whole errors in status (D14), no retry of
deterministic failures."""
from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.cli import main
from orchestrator.executors import Outcome
from orchestrator.job.worker import DeterministicJobError, deterministic
from orchestrator.queue import JobState, NewJob, SqliteQueue
from orchestrator.run.scheduler import _error_text
from orchestrator.run.study_lock import StudyBusy, hold_study_version
from orchestrator.testing.studies import fake_search_study, fake_study
from orchestrator.workspace import REPO_ROOT


def twice(lr: float) -> str:
    """Study ``twice``: one version per learning rate of its level ``b``."""
    return fake_study("twice", axes={"lr": {"a": {}, "b": {"optim_wrapper.optimizer.lr": lr}}})


def test_mlflow_store_created_by_three_processes_at_once(tmp_path):
    """D7: a fresh SQLite store opened by several orchestrators at once (schema creation
    and migration under a file lock) -- none crashes in alembic."""
    db = tmp_path / "fresh" / "mlflow.db"
    code = ("import sys, time\n"
            "from orchestrator.run.tracking import Tracker\n"
            "while time.time() < float(sys.argv[1]): time.sleep(0.01)\n"
            f"Tracker('sqlite:///{db}').experiment_id('s')\n")
    import time

    start = str(time.time() + 8)  # every process imports MLflow first, then all go at once
    procs = [subprocess.Popen([sys.executable, "-c", code, start], cwd=REPO_ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(3)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], "\n".join(outs)


def test_one_version_of_a_study_at_a_time(tmp_path, write_study, workspace, capsys):
    """D8: a second version of a running study is refused with both versions named, and
    queues nothing; the same version may join; a dead run's lock is gone with it."""
    v1 = write_study(twice(0.1), "v1.yaml")
    v2 = write_study(twice(0.2), "v2.yaml")
    locks = workspace / "locks"
    held = hold_study_version(locks, "twice", v1, "default")
    again = hold_study_version(locks, "twice", v1, "default")  # same version: shares
    with pytest.raises(StudyBusy) as exc:
        hold_study_version(locks, "twice", v2, "default")
    assert str(v1) in str(exc.value) and str(v2) in str(exc.value)
    with pytest.raises(StudyBusy):  # another profile is another version
        hold_study_version(locks, "twice", v1, "paper")

    rc = main(["run", str(v2), "--workspace", str(workspace), "--parallel", "1"])
    out = capsys.readouterr().out
    assert rc == 2 and "another version" in out and str(v1) in out and str(v2) in out
    assert "Nothing was queued" in out
    assert SqliteQueue(workspace / "queue.db").jobs() == []

    held.release()
    again.release()
    # The lock holder of v1 ended: v2 takes over (a dead process's flock is gone too).
    hold_study_version(locks, "twice", v2, "default").release()


def test_a_killed_holder_leaves_no_lock(tmp_path, write_study):
    v1 = write_study(twice(0.1), "v1.yaml")
    v2 = write_study(twice(0.2), "v2.yaml")
    code = ("import sys, os, signal\n"
            "from pathlib import Path\n"
            "from orchestrator.run.study_lock import hold_study_version\n"
            f"hold_study_version(Path('{tmp_path}/locks'), 'twice', Path('{v1}'), 'default')\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, timeout=60)
    assert proc.returncode == -9
    hold_study_version(tmp_path / "locks", "twice", v2, "default").release()


def test_status_shows_whole_error_messages(workspace, capsys):
    """D14: the error is printed whole (every line), not cut at 120 characters."""
    queue = SqliteQueue(workspace / "queue.db")
    queue.enqueue("s", [NewJob("j0", {"name": "x"}, max_attempts=1)])
    queue.claim("me", "s")
    error = ("AnnotationError: data/toy/annotations/instances_train.json: annotations[17] "
             "(id=18, image_id=3) has unknown category_id 99 (categories are 1..6); "
             "fix the file or regenerate it\nsecond line: the end matters")
    queue.finish("j0", "me", JobState.FAILED, error)
    assert main(["status", "s", "--workspace", str(workspace)]) == 0
    out = capsys.readouterr().out
    assert "has unknown category_id 99 (categories are 1..6); fix the file or regenerate it" \
        in out and "second line: the end matters" in out


def test_deterministic_failures_are_not_retried(tmp_path):
    build = KeyError("'CenterMaskHead is not in the mmdet::model registry'")
    wrapped = DeterministicJobError("the runner does not build")
    wrapped.__cause__ = build
    assert deterministic(wrapped) and deterministic(FloatingPointError("loss is nan"))
    assert not deterministic(RuntimeError("CUDA error: out of memory"))

    class AnnotationError(ValueError):  # the data validator's, by name
        pass

    try:
        try:
            raise AnnotationError("instances_val.json: images[3] (id=4) lacks 'height'")
        except AnnotationError as exc:
            raise RuntimeError("dataloader worker failed") from exc
    except RuntimeError as exc:
        assert deterministic(exc)

    work = tmp_path
    for det, retry in ((True, False), (False, True)):
        (work / "error.json").write_text(json.dumps(
            {"type": "X", "message": "m", "deterministic": det}))
        assert _error_text(work, work / "log", Outcome("j", 1)) == ("X: m", retry)


def test_study_lock_files_live_in_the_workspace(tmp_path, write_study):
    v1 = write_study(twice(0.1))
    lock = hold_study_version(tmp_path / "locks", "twice", v1, "default")
    info = json.loads(Path(lock.path).read_text())
    assert info["file"] == str(v1) and info["profile"] == "default"
    lock.release()


def test_a_fresh_queue_opened_by_many_at_once(tmp_path):
    """D7 for the queue: switching a new SQLite file to WAL races without the flock."""
    import threading

    errors: list[BaseException] = []

    def open_queue() -> None:
        try:
            SqliteQueue(tmp_path / "q" / "queue.db").close()
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=open_queue) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_a_search_takes_the_same_version_lock(write_study, workspace, capsys):
    """D8 for search studies: a second version of a running search is refused before it
    asks Optuna for any trial."""
    search = functools.partial(fake_search_study, "search-twice", seed=0, epochs=1, step_s=0.0)
    v1 = write_study(search(n_trials=2), "s1.yaml")
    v2 = write_study(search(n_trials=3), "s2.yaml")  # another version
    held = hold_study_version(workspace / "locks", "search-twice", v1, "t")
    try:
        rc = main(["run", str(v2), "--profile", "t", "--workspace", str(workspace)])
    finally:
        held.release()
    out = capsys.readouterr().out
    assert rc == 2 and "another version" in out and str(v1) in out
    queue_db = workspace / "queue.db"
    assert not queue_db.exists() or SqliteQueue(queue_db).jobs() == []  # no trial asked
