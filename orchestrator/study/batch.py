"""The papers' effective batch, made explicit: a profile's ``batch:`` section.

The papers train with 16 images per step on 8 GPUs (2 per GPU). A profile declares that
recipe and what to do when fewer GPUs are available::

    profiles:
      paper:
        batch: {world_size: 8, images_per_gpu: 2, rule: linear_lr}   # or: accumulate

At plan time the job's world size is ``min(world_size, GPUs available)`` (one process on a
machine without GPUs; the declared world size on Slurm, which allocates it), and:

* ``linear_lr``: the learning rate scales with the batch actually used, through mmengine's
  ``auto_scale_lr`` (``enable=True, base_batch_size=16``: lr x (world x images) / 16);
* ``accumulate``: gradients of ``16 / (world x images)`` steps are accumulated
  (``optim_wrapper.accumulative_counts``), so each update sees 16 images at the paper's
  learning rate. mmengine's parameter schedulers still count data steps: an iteration-based
  warm-up of 500 steps spans 500 / k updates.

Each job's config gets ``train_dataloader.batch_size`` = images per GPU, the rule's keys,
and a ``cm_batch`` record (paper world size and batch, the planned world size, images per
GPU, accumulation, effective batch, rule), so two world sizes are two different jobs and the
job process logs the record into the MLflow run (rank 0).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .configs import get_path

RULES = ("linear_lr", "accumulate")
KEYS = frozenset({"world_size", "images_per_gpu", "rule"})


@dataclass(frozen=True)
class BatchSpec:
    """A profile's declared recipe: ``world_size`` x ``images_per_gpu`` images, ``rule``."""

    world_size: int
    images_per_gpu: int
    rule: str

    @property
    def batch(self) -> int:
        return self.world_size * self.images_per_gpu


def parse(raw: Any) -> tuple[BatchSpec | None, list[tuple[tuple[str, ...], str]]]:
    """A ``batch:`` mapping -> (spec, problems as (key path below ``batch``, message))."""
    if raw is None:
        return None, []
    if not isinstance(raw, Mapping):
        return None, [((), "batch must be a mapping {world_size, images_per_gpu, rule}")]
    problems: list[tuple[tuple[str, ...], str]] = [
        ((str(k),), f"unknown key {k!r}; batch has {sorted(KEYS)}") for k in raw
        if k not in KEYS]
    values: dict[str, int] = {}
    for key in ("world_size", "images_per_gpu"):
        v = raw.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            problems.append(((key,), f"{key} must be a positive integer, got {v!r}"))
        else:
            values[key] = v
    rule = raw.get("rule")
    if rule not in RULES:
        problems.append((("rule",), f"rule must be one of {list(RULES)} (how to keep the "
                                    f"recipe with fewer GPUs), got {rule!r}"))
    if problems:
        return None, problems
    return BatchSpec(values["world_size"], values["images_per_gpu"], str(rule)), []


@dataclass(frozen=True)
class BatchPlan:
    """What the jobs of a profile run: ``world_size`` ranks x ``images_per_gpu`` images,
    ``accumulative_counts`` steps per update, and how that relates to the paper's batch."""

    spec: BatchSpec
    world_size: int
    images_per_gpu: int
    accumulative_counts: int
    available: int | None

    @property
    def effective_batch(self) -> int:
        """Images per optimiser update."""
        return self.world_size * self.images_per_gpu * self.accumulative_counts

    @property
    def lr_scale(self) -> float:
        """Factor on the paper's learning rate (``linear_lr``), else 1."""
        if self.spec.rule != "linear_lr":
            return 1.0
        return self.world_size * self.images_per_gpu / self.spec.batch

    @property
    def short_of_gpus(self) -> bool:
        return self.world_size < self.spec.world_size

    def record(self) -> dict[str, Any]:
        """The ``cm_batch`` config record (logged to MLflow by the job process)."""
        return {"paper_world_size": self.spec.world_size, "paper_batch": self.spec.batch,
                "world_size": self.world_size, "images_per_gpu": self.images_per_gpu,
                "accumulative_counts": self.accumulative_counts,
                "effective_batch": self.effective_batch, "rule": self.spec.rule,
                "lr_scale": self.lr_scale}

    def patch(self, tree: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Config keys (dotted) that make a job run this plan; a key ``tree`` (the job's
        config) lacks gets the planner's ``+`` prefix (add a new key)."""
        values: dict[str, Any] = {"train_dataloader.batch_size": self.images_per_gpu,
                                  "cm_batch": self.record()}
        if self.spec.rule == "linear_lr":
            values["auto_scale_lr"] = {"enable": True, "base_batch_size": self.spec.batch}
        elif self.accumulative_counts > 1:
            values["optim_wrapper.accumulative_counts"] = self.accumulative_counts
        return {(k if tree is None or get_path(tree, k)[0] else "+" + k): v
                for k, v in values.items()}

    def describe(self) -> str:
        """One line for ``orchestrator plan``."""
        head = (f"batch: world size {self.world_size} x {self.images_per_gpu} images/GPU"
                + (f" x {self.accumulative_counts} accumulated"
                   if self.accumulative_counts > 1 else "")
                + f" = effective batch {self.effective_batch} "
                f"(paper: {self.spec.world_size} x {self.spec.images_per_gpu} = "
                f"{self.spec.batch})")
        if not self.short_of_gpus:
            return head
        if self.spec.rule == "linear_lr":
            how = (f"rule linear_lr: learning rate x {self.lr_scale:g} "
                   f"(auto_scale_lr, base_batch_size {self.spec.batch})")
        else:
            how = (f"rule accumulate: {self.accumulative_counts} steps per update at the "
                   "paper's learning rate (iteration-based schedules count steps, not updates)")
        return f"{head}; {how}"

    def warning(self) -> str | None:
        """The warning ``plan`` prints when the GPUs cannot provide the paper's world size."""
        if not self.short_of_gpus:
            return None
        where = ("no GPU is visible" if not self.available
                 else f"only {self.available} GPU(s) are visible")
        return (f"WARNING: the paper trains on {self.spec.world_size} GPUs x "
                f"{self.spec.images_per_gpu} images = batch {self.spec.batch}; {where}, so "
                f"each job runs {self.world_size} process(es): effective batch "
                f"{self.effective_batch} by rule {self.spec.rule}. Results are comparable "
                "with each other, not a reproduction of the paper's recipe.")


def plan_batch(spec: BatchSpec, available: int | None) -> BatchPlan:
    """Fit ``spec`` to ``available`` GPUs (``None``: the executor allocates what is asked).

    Raises:
        ValueError: ``accumulate`` cannot reach the paper's batch with whole steps.
    """
    world = spec.world_size if available is None else max(1, min(spec.world_size, available))
    accum = 1
    if spec.rule == "accumulate" and world < spec.world_size:
        step = world * spec.images_per_gpu
        if spec.batch % step:
            raise ValueError(f"rule accumulate: batch {spec.batch} is not a multiple of "
                             f"{world} process(es) x {spec.images_per_gpu} images")
        accum = spec.batch // step
    return BatchPlan(spec, world, spec.images_per_gpu, accum, available)
