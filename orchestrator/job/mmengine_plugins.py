"""mmengine components the job process adds to every config it runs.

* :class:`CMMLflowVisBackend` -- an ``MLflowVisBackend`` that logs into a run the
  orchestrator created, by id, through an explicit tracking URI. The stock backend ignores
  ``MLFLOW_TRACKING_URI``, defaults to a file store MLflow >= 3.13 refuses, opens its own run
  through the fluent API, flattens the whole config into params and ends the run after
  training (before the test metrics exist). This one does none of that: it uses
  ``MlflowClient`` with the given run id, logs the resolved config as the ``config.py``
  artifact only (the orchestrator logs a bounded set of params), and leaves the run open
  on ``close()`` for the job process to add the test metrics and finish it.
* :class:`CMProgressHook` -- writes ``progress.json`` (epoch, iteration, ETA) for the
  orchestrator's live progress lines, and fails the job on a non-finite loss.

Importing this module registers both in mmengine's root registries (``VISBACKENDS``,
``HOOKS``), which mmdet's registries fall back to.
"""
from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

from mmengine.hooks import Hook
from mmengine.registry import HOOKS, VISBACKENDS
from mmengine.utils import scandir
from mmengine.visualization import MLflowVisBackend
from mmengine.visualization.vis_backend import force_init_env

from ..atomic import write_json


def _number(value: Any) -> float:
    if hasattr(value, "item"):
        value = value.item()
    return float(value)


@VISBACKENDS.register_module()
class CMMLflowVisBackend(MLflowVisBackend):
    """Log to the existing MLflow run ``run_id`` at ``tracking_uri``.

    Args:
        save_dir: Local directory mmengine gives every backend (unused but created).
        run_id: The run the orchestrator created for the job.
        tracking_uri: Store or server the run lives in (never a file store by default).
        config_file: The job's config file, logged as the ``config.py`` artifact (default:
            the running config's text).
        artifact_suffix: Files under the work dir uploaded on :meth:`close`.
    """

    def __init__(self, save_dir: str, run_id: str, tracking_uri: str,
                 artifact_suffix: tuple[str, ...] = (".json", ".log", ".py"),
                 config_file: str | None = None, **kwargs: Any) -> None:
        super().__init__(save_dir, tracking_uri=tracking_uri, artifact_suffix=artifact_suffix,
                         **kwargs)
        self._run_id = run_id
        self._config_file = config_file
        self._work_dir: str | None = None

    def _init_env(self) -> None:
        from mlflow.tracking import MlflowClient

        os.makedirs(self._save_dir, exist_ok=True)
        self._client = MlflowClient(self._tracking_uri)
        self._client.get_run(self._run_id)  # fail early on a wrong id or URI
        self._mlflow = self._client  # the base class checks this attribute in close()

    @property  # type: ignore[misc]
    @force_init_env
    def experiment(self) -> Any:
        """The ``MlflowClient`` (the run id is :attr:`run_id`)."""
        return self._client

    @property
    def run_id(self) -> str:
        return self._run_id

    @force_init_env
    def add_config(self, config: Any, **kwargs: Any) -> None:
        self.cfg = config
        self._work_dir = config.get("work_dir")
        if self._config_file:
            # The job's own config.py (the planner's): it names no orchestrator type, so
            # tools/test.py, tools/demo.py and mim test run it as it is.
            self._client.log_artifact(self._run_id, self._config_file)
        else:
            self._client.log_text(self._run_id, config.pretty_text, "config.py")

    @force_init_env
    def add_image(self, name: str, image: Any, step: int = 0, **kwargs: Any) -> None:
        self._client.log_image(self._run_id, image, artifact_file=f"images/{step}/{name}")

    @force_init_env
    def add_scalar(self, name: str, value: Any, step: int = 0, **kwargs: Any) -> None:
        self.add_scalars({name: value}, step)

    @force_init_env
    def add_scalars(self, scalar_dict: dict, step: int = 0, file_path: str | None = None,
                    **kwargs: Any) -> None:
        import mlflow.entities

        now = int(time.time() * 1000)
        metrics = [mlflow.entities.Metric(k.replace("@", "_at_"), _number(v), now, int(step))
                   for k, v in scalar_dict.items() if k != "step"]
        self._client.log_batch(self._run_id, metrics=metrics)

    def close(self) -> None:
        """Upload mmengine's logs under ``logs/``; the run stays open (see module doc).

        Only files in sub-folders of the work dir (mmengine's ``<timestamp>/`` log dirs) are
        uploaded: the job process logs the work dir's own files (``metrics.json``,
        ``worker.log``) itself, and ``config.py`` came with :meth:`add_config`.
        """
        if not hasattr(self, "_client") or not self._work_dir:
            return
        for rel in scandir(self._work_dir, self._artifact_suffix, True):
            parent = Path(rel).parent
            if str(parent) == ".":
                continue
            self._client.log_artifact(self._run_id, str(Path(self._work_dir) / rel),
                                      artifact_path=str(Path("logs") / parent))


@HOOKS.register_module()
class CMProgressHook(Hook):
    """Write ``progress.json`` for the orchestrator; fail fast on a non-finite loss.

    Args:
        path: The progress file.
        interval_s: Seconds between writes.
    """

    priority = "VERY_LOW"

    def __init__(self, path: str, interval_s: float = 2.0) -> None:
        self.path = Path(path)
        self.interval_s = interval_s
        self._last = 0.0
        self._t0 = 0.0
        self._iter0 = 0

    def _write(self, runner: Any, phase: str, force: bool = False) -> None:
        now = time.time()
        if not force and now - self._last < self.interval_s:
            return
        self._last = now
        data = {"phase": phase, "epoch": runner.epoch, "max_epochs": runner.max_epochs,
                "iter": runner.iter, "max_iters": runner.max_iters, "updated": now}
        if self._t0:  # a training's ETA; a test-only job (evaluation) has none
            done = max(1, runner.iter - self._iter0)
            data["eta_s"] = round((now - self._t0) / done * max(0, runner.max_iters - runner.iter),
                                  1)
        write_json(self.path, data, indent=None)

    def before_train(self, runner: Any) -> None:
        self._t0, self._iter0 = time.time(), runner.iter
        self._write(runner, "train", force=True)

    def after_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None,
                         outputs: Any = None) -> None:
        if isinstance(outputs, dict) and "loss" in outputs:
            loss = _number(outputs["loss"])
            if not math.isfinite(loss):
                raise FloatingPointError(
                    f"loss is {loss} at iteration {runner.iter} (epoch {runner.epoch})")
        self._write(runner, "train")

    def before_val_epoch(self, runner: Any) -> None:
        self._write(runner, "val", force=True)

    def before_test_epoch(self, runner: Any) -> None:
        self._write(runner, "test", force=True)
