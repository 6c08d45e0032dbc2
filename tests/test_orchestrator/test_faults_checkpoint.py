"""Issue 16 D3: a kill inside a checkpoint save never leaves the job unable to resume.

The job process swaps mmengine's ``CheckpointHook`` for ``AtomicCheckpointHook`` (temp file
+ rename, ``last_checkpoint`` replaced after, the old checkpoint removed last), and resumes
from the newest checkpoint that loads, saying which it skipped.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from orchestrator.job.atomic_checkpoint_hook import resume_checkpoint
from orchestrator.testing.faults import fault_env
from orchestrator.testing.studies import tiny_toy_study
from orchestrator.workspace import REPO_ROOT

TRAIN = textwrap.dedent("""
    import sys
    import torch
    from torch import nn
    from mmengine.model import BaseModel
    from mmengine.runner import Runner
    from centermask_mm.utils import allow_full_checkpoint_load
    from orchestrator.job.train import use_atomic_checkpoints

    allow_full_checkpoint_load()  # its own checkpoints, as the job process does

    class Tiny(BaseModel):
        def __init__(self):
            super().__init__()
            self.w = nn.Linear(2, 1)

        def forward(self, x, y, mode="loss"):
            return {"loss": ((self.w(x) - y) ** 2).mean()}

    data = [(torch.ones(2), torch.ones(1))] * 4
    runner = Runner(model=Tiny(), work_dir=sys.argv[1],
                    train_dataloader=dict(dataset=data, batch_size=2, sampler=dict(
                        type="DefaultSampler", shuffle=False), collate_fn=dict(
                        type="default_collate")),
                    optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.01)),
                    train_cfg=dict(by_epoch=True, max_epochs=int(sys.argv[2])),
                    default_hooks=dict(checkpoint=dict(type="CheckpointHook", interval=1,
                                                       max_keep_ckpts=1)),
                    resume=len(sys.argv) > 3, load_from=sys.argv[3] if len(sys.argv) > 3
                    else None)
    use_atomic_checkpoints(runner)
    runner.train()
""")


def train(work, epochs, env=None, resume_from=None):
    argv = [sys.executable, "-c", TRAIN, str(work), str(epochs)]
    return subprocess.run(argv + ([str(resume_from)] if resume_from else []), cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def test_kill_inside_a_save_keeps_the_previous_checkpoint_and_resumes(tmp_path):
    work = tmp_path / "work"
    marker = tmp_path / "fired"
    env = fault_env("checkpoint.before_rename", marker)
    env["CM_FAULT_KILL"] = "self"
    # Epoch 1's save passes (the marker is made by the first firing: fire at epoch 2 only).
    first = train(work, 1)
    assert first.returncode == 0, first.stderr[-3000:]
    second = train(work, 2, env, resume_from=work / "epoch_1.pth")
    assert second.returncode == -signal.SIGKILL and marker.exists(), second.stderr[-3000:]
    # mmengine's own hook would have removed epoch_1.pth before writing epoch_2.pth.
    assert (work / "epoch_1.pth").is_file() and not (work / "epoch_2.pth").exists()
    assert (work / "last_checkpoint").read_text() == str(work / "epoch_1.pth")
    ckpt, notes = resume_checkpoint(work)
    assert ckpt == work / "epoch_1.pth" and notes == []
    third = train(work, 2, resume_from=ckpt)
    assert third.returncode == 0, third.stderr[-3000:]
    assert (work / "epoch_2.pth").is_file() and not (work / "epoch_1.pth").exists()
    assert (work / "last_checkpoint").read_text() == str(work / "epoch_2.pth")


def test_resume_falls_back_to_the_newest_loadable_checkpoint(tmp_path):
    """What mmengine's hook leaves after such a kill: last_checkpoint names a deleted file,
    the newest epoch file is truncated; the job resumes from the one before and says so."""
    torch.save({"state_dict": {}}, tmp_path / "epoch_1.pth")
    torch.save({"state_dict": {"w": torch.zeros(1000)}}, tmp_path / "epoch_2.pth")
    data = (tmp_path / "epoch_2.pth").read_bytes()
    (tmp_path / "epoch_2.pth").write_bytes(data[: len(data) // 2])
    (tmp_path / "last_checkpoint").write_text(str(tmp_path / "epoch_3.pth"))
    ckpt, notes = resume_checkpoint(tmp_path)
    assert ckpt == tmp_path / "epoch_1.pth"
    assert notes == [f"skipped {tmp_path / 'epoch_3.pth'}: named by last_checkpoint but "
                     "missing", f"skipped {tmp_path / 'epoch_2.pth'}: incomplete (truncated "
                     "or corrupt)"]
    assert resume_checkpoint(tmp_path / "none") == (None, [])


REAL = tiny_toy_study("realcfg", max_epochs=1, axes={"backbone": {"dw": {}}})


@pytest.mark.slow  # a real (tiny) training, then tools/test.py: ~1-3 min on 2 busy cores
def test_job_config_runs_unchanged_with_tools_test(write_study, workspace, tiny_toy, tmp_path,
                                                   monkeypatch):
    """The job's config.py and its MLflow artifact name no orchestrator type: tools/test.py
    tests the job's checkpoint with it as it is (mim test runs the same script)."""
    from mlflow.tracking import MlflowClient

    from orchestrator.cli import main

    monkeypatch.setenv("CM_TOY_ROOT", str(tiny_toy))
    assert main(["run", str(write_study(REAL)), "--workspace", str(workspace),
                 "--latency-images", "0"]) == 0
    (job,) = (workspace / "jobs").iterdir()
    config = (job / "config.py").read_text()
    assert "CMMLflowVisBackend" not in config and "CMProgressHook" not in config
    assert (job / "runtime_config.py").exists()  # what ran, with the orchestrator's parts
    client = MlflowClient(f"sqlite:///{workspace}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("realcfg").experiment_id],
                                "tags.`cm.role` = 'job'")
    artifact = client.download_artifacts(run.info.run_id, "config.py", str(tmp_path))
    assert open(artifact).read() == config
    test = subprocess.run([sys.executable, "tools/test.py", artifact, str(job / "epoch_1.pth"),
                           "--work-dir", str(tmp_path / "t")], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=900)
    assert test.returncode == 0, test.stdout[-3000:] + test.stderr[-3000:]
    assert "coco/segm_mAP" in test.stdout + test.stderr
