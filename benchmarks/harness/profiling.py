"""Where inference time goes, below the stage level: operator and Python-function profiles.

:func:`profile_inference` runs a few ``test_step`` calls (after one warm-up) under
``torch.profiler`` (operators: convolution, RoIAlign, NMS, grid_sample, ...) and under
``cProfile`` (Python functions, to expose per-call overheads such as one-mask-at-a-time
loops), with the detection count fixed as in the latency measurement.
"""
from __future__ import annotations

import cProfile
import io
import pstats
from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

import torch
from torch import nn

from .inputs import inference_batch
from .models import build_model, fixed_detections
from .runner import fresh_test_step, model_device


def profile_inference(model_or_config: nn.Module | Any,
                      shape: Sequence[int] = (800, 1216),
                      runs: int = 1,
                      device: str | None = None,
                      *,
                      row_limit: int = 25,
                      fixed_count: bool = True,
                      ori_shape: Sequence[int] | None = None) -> dict[str, str]:
    """Operator and function profiles of ``runs`` inference calls.

    Args:
        model_or_config: A built detector or a config to build with random weights.
        shape (Sequence[int]): (H, W) input.
        runs (int): Profiled calls (after one untimed warm-up).
        device (str, optional): Where a config is built (default CPU).
        row_limit (int): Rows per table.
        fixed_count (bool): Force the test-time top-k detections.
        ori_shape (Sequence[int], optional): Paste-back shape.

    Returns:
        dict[str, str]: ``ops`` (torch.profiler table sorted by self time) and
        ``python`` (cProfile, sorted by own time).
    """
    if isinstance(model_or_config, nn.Module):
        model = model_or_config
    else:
        model = build_model(model_or_config, device or "cpu")
    dev = model_device(model)
    batch = inference_batch(shape, ori_shape)
    activities = [torch.profiler.ProfilerActivity.CPU]
    sort = "self_cpu_time_total"
    if dev.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
        sort = "self_cuda_time_total"
    was_training = model.training
    model.eval()
    ctx = fixed_detections(model) if fixed_count else nullcontext()
    try:
        with ctx, torch.no_grad():
            fresh_test_step(model, batch)
            with torch.profiler.profile(activities=activities) as prof:
                for _ in range(runs):
                    fresh_test_step(model, batch)
                    if dev.type == "cuda":
                        torch.cuda.synchronize(dev)
            ops = prof.key_averages().table(sort_by=sort, row_limit=row_limit)
            py = cProfile.Profile()
            py.enable()
            for _ in range(runs):
                fresh_test_step(model, batch)
            py.disable()
    finally:
        model.train(was_training)
    buf = io.StringIO()
    pstats.Stats(py, stream=buf).sort_stats("tottime").print_stats(row_limit)
    return {"ops": ops, "python": buf.getvalue()}

