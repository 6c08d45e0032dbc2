"""A data-parallel toy for the DDP tests: a 2-layer MLP regressing a fixed linear target.

Everything is deterministic and batch-independent (no BatchNorm, mean-reduced MSE), so a
run with ``world_size x batch_size = B`` and the same seed must follow the same losses as
one process with batch ``B``: with mmengine's ``DefaultSampler`` (explicit seed), rank
``r`` of ``w`` takes indices ``perm[r::w]``, so at each step the ranks together see exactly
the single process's batch, and DDP averages their gradients as the mean over that batch.

The model logs ``objective``: the loss averaged over all ranks (all-reduced, logging only),
which is the single process's batch loss; the optimised ``loss`` stays per rank as DDP
expects. ``fail_rank``/``fail_iter``: that rank SIGKILLs itself at that iteration unless
the marker ``toy-killed-once`` exists in the job's work dir (it writes it first; the work
dir is where the job process's ``job.json`` argument lives), so the job's first attempt
loses a rank and the retry resumes: the test of "a dead rank fails the job cleanly".
"""
from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, METRICS, MODELS
from torch import nn
from torch.utils.data import Dataset

MARKER = "toy-killed-once"


@DATASETS.register_module()
class DDPToyDataset(Dataset):
    """``n`` samples ``x ~ N(0, 1)^8``, ``y = x . w + 0.1 noise`` (fixed by ``seed``)."""

    def __init__(self, n: int = 32, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.x = rng.standard_normal((n, 8)).astype(np.float32)
        w = np.linspace(-1.0, 1.0, 8, dtype=np.float32)
        self.y = (self.x @ w + 0.1 * rng.standard_normal(n)).astype(np.float32)
        self.metainfo: dict[str, Any] = {}

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"inputs": torch.from_numpy(self.x[i]), "targets": torch.tensor(self.y[i])}


@MODELS.register_module()
class DDPToyModel(BaseModel):
    """MLP 8 -> 16 -> 1; ``loss`` (this rank's batch) and ``objective`` (all ranks')."""

    def __init__(self, fail_rank: int = -1, fail_iter: int = -1) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 1))
        self.fail_rank, self.fail_iter = fail_rank, fail_iter
        self._iter = 0

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor | None = None,
                mode: str = "tensor") -> Any:
        pred = self.net(inputs).squeeze(-1)
        if mode == "loss":
            self._iter += 1
            rank = dist.get_rank() if dist.is_initialized() else 0
            marker = Path(sys.argv[-1]).with_name(MARKER)  # WORK_DIR/job.json -> WORK_DIR
            if rank == self.fail_rank and self._iter == self.fail_iter and not marker.exists():
                marker.write_text(f"rank {rank} killed at {self._iter}\n")
                print(f"toy: rank {rank} kills itself at iteration {self._iter}", flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
            loss = ((pred - targets) ** 2).mean()
            objective = loss.detach().clone()
            if dist.is_initialized():
                dist.all_reduce(objective)
                objective /= dist.get_world_size()
            return {"loss": loss, "objective": objective}
        if mode == "predict":
            assert targets is not None, "the toy's test set has targets"
            return [{"pred": p, "target": t} for p, t in zip(pred, targets, strict=True)]
        return pred


@METRICS.register_module()
class DDPToyMetric(BaseMetric):
    """Mean squared error over the test set (``toy/mse``)."""

    default_prefix = "toy"

    def process(self, data_batch: Any, data_samples: Sequence[dict[str, Any]]) -> None:
        self.results += [float((s["pred"] - s["target"]) ** 2) for s in data_samples]

    def compute_metrics(self, results: list[float]) -> dict[str, float]:
        return {"mse": float(np.mean(results))}
