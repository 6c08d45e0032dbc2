"""The runner of evaluation-only jobs: a published checkpoint tested, not trained.

``job_runner = dict(type='orchestrator.job.evaluate:run', weights=PATH, weights_sha256=HEX,
converter=HEX, cache_dir=DIR, published=NAME)`` (written by
:mod:`orchestrator.study.evaluate`). The job

1. checks that ``weights`` still has the hash the plan saw (the job's identity includes it);
2. converts it once with :func:`centermask_mm.converters.centermask2.convert_file`, checked
   strictly against the job's config, into ``cache_dir/<sha256[:16]>-<converter[:8]>.pth``
   (``converter``: the converter sources' fingerprint, so a converter fix converts again),
   written to a temporary file and renamed, so concurrent jobs on the same file never read
   half a file and later jobs reuse it; a file that already is an mmdet checkpoint is used
   as it is;
3. loads it strictly and runs ``runner.test()``, then logs the test metrics, ``params_m``
   and ``time_ms`` exactly as a trained job (:mod:`orchestrator.job.train`) does, with tags
   ``cm.mode=evaluate``, ``cm.weights_file``, ``cm.weights_sha256``, ``cm.published_model``
   and ``cm.weights_conversion`` (``converted`` | ``cached`` | ``mmdet``).
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import worker
from .train import fill_empty_coco, job_config, measure_latency

#: Key prefixes only an mmdet detector checkpoint has (centermask2 names its heads
#: ``proposal_generator.`` / ``roi_heads.`` and its FPN ``backbone.fpn_*``).
MMDET_PREFIXES: tuple[str, ...] = ("neck.", "bbox_head.", "roi_head.", "rpn_head.")


def checkpoint_keys(path: Path) -> frozenset[str]:
    """The state-dict keys of a ``.pth`` / ``.pkl`` checkpoint (any wrapper)."""
    from centermask_mm.converters.centermask2 import ConversionError, read_checkpoint

    try:
        return frozenset(read_checkpoint(path)[0])
    except ConversionError:
        if path.suffix == ".pkl":
            raise
        # An mmdet checkpoint saved by a Runner pickles more than tensors (message hub,
        # optimizer): torch's weights-only load refuses it. The user named this file.
        import torch

        obj = torch.load(path, map_location="cpu", weights_only=False)
        state = obj.get("state_dict", obj) if isinstance(obj, Mapping) else {}
        return frozenset(str(k) for k in state)


def is_mmdet_checkpoint(keys: frozenset[str]) -> bool:
    return any(k.startswith(MMDET_PREFIXES) for k in keys)


def file_sha256(path: Path) -> str:
    from centermask_mm.converters.centermask2.core import sha256

    return sha256(path)


def converted_checkpoint(src: Path, sha256: str, cache_dir: Path,
                         config: str | Path | None = None, converter: str = ""
                         ) -> tuple[Path, str]:
    """The mmdet checkpoint of ``src``: ``(path, how)``.

    ``how`` is ``'cached'`` (``cache_dir/<sha256[:16]>[-<converter[:8]>].pth`` exists:
    nothing is read; ``converter`` is the converter's source fingerprint),
    ``'mmdet'`` (``src`` already has mmdet's names: used as it is) or ``'converted'``
    (converted now, checked against ``config`` when given, and cached).

    Raises:
        ConversionError: From the converter, naming the keys it could not map.
    """
    from centermask_mm.converters.centermask2 import convert_file

    dst = cache_dir / (f"{sha256[:16]}-{converter[:8]}.pth" if converter
                       else f"{sha256[:16]}.pth")
    if dst.exists():
        return dst, "cached"
    if is_mmdet_checkpoint(checkpoint_keys(src)):
        return src, "mmdet"
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        convert_file(src, tmp, config=config)
        # Atomic: two jobs converting the same file at once both write their own temporary
        # file; the last rename wins and both results are the same bytes' conversion.
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return dst, "converted"


def run(job: Mapping[str, Any]) -> dict[str, float]:
    """Convert (once), load and test the published checkpoint of ``job``; the metrics."""
    from centermask_mm.utils import allow_full_checkpoint_load, build_runner, count_params

    options = dict(job.get("options") or {})
    src, sha = Path(options["weights"]), str(options["weights_sha256"])
    found = file_sha256(src)
    if found != sha:
        raise RuntimeError(f"weights file {src} changed since the plan (sha256 {found[:16]}, "
                           f"planned {sha[:16]}): plan and run the study again")
    client = worker.job_client(job)
    run_id = job.get("run_id")
    ckpt, how = converted_checkpoint(src, sha, Path(options["cache_dir"]), job["config"],
                                     str(options.get("converter") or ""))
    print(f"weights {src.name} (sha256 {sha[:16]}): {how} -> {ckpt}", flush=True)
    if client is not None:
        for key, value in {"cm.mode": "evaluate", "cm.weights_file": src.name,
                           "cm.weights_sha256": sha, "cm.weights_conversion": how,
                           "cm.published_model": options.get("published") or "",
                           "cm.checkpoint": str(ckpt)}.items():
            client.set_tag(run_id, key, value)

    allow_full_checkpoint_load()  # the user's own weights file (how == 'mmdet')
    cfg = job_config(job)
    cfg.resume = False
    cfg.load_from = str(ckpt)
    runner = build_runner(cfg)
    import torch

    from benchmarks.harness.hardware import hardware_info, time_hardware

    if client is not None:
        client.set_tag(run_id, "cm.hardware", time_hardware(
            hardware_info("cuda" if torch.cuda.is_available() else "cpu")))
    # Strict: a converted file was checked against this config; an mmdet file must fit too.
    runner.load_checkpoint(str(ckpt), map_location="cpu", strict=True)
    runner._has_loaded = True  # test() would load load_from again, not strictly
    test, empty = fill_empty_coco(runner.test() or {}, cfg.get("test_evaluator"))
    if empty and client is not None:
        client.set_tag(run_id, "cm.empty_predictions", "true")
    metrics = {"test/" + k.replace("@", "_at_"): float(v) for k, v in test.items()
               if isinstance(v, int | float)}
    metrics["params_m"] = count_params(runner.model) / 1e6
    latency = measure_latency(runner, job, run_id, client)
    if latency is not None:
        metrics["time_ms"] = latency
    return metrics
