"""``AtomicCheckpointHook``: mmengine's ``CheckpointHook`` that never leaves a half-written
checkpoint behind, and :func:`resume_checkpoint`, which picks the newest loadable one.

mmengine 0.10.7's hook removes the oldest kept checkpoint (``max_keep_ckpts``) *before* it
writes the new one, writes ``epoch_N.pth`` in place and then ``last_checkpoint`` in place:
a kill inside the save leaves ``last_checkpoint`` naming a deleted or truncated file, and
every resume fails. This hook saves to ``epoch_N.pth.tmp``, renames it when complete,
replaces ``last_checkpoint`` atomically, and only then removes the old checkpoint. It is
the same hook otherwise (same arguments); the job process swaps it in for the config's
``CheckpointHook`` at run time, so the job's ``config.py`` keeps naming stock types.
"""
from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path
from typing import Any

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.registry import HOOKS

from ..faults import fault_point

_TMP = ".tmp"


def _replace_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + _TMP)
    tmp.write_text(text)
    os.replace(tmp, path)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` whose saves are atomic (see the module docstring).

    Remote backends (``out_dir`` on S3 and the like) have no rename: they get the stock
    behaviour.
    """

    def _save_checkpoint_with_step(self, runner: Any, step: int, meta: dict) -> None:
        if not isinstance(self.file_backend, LocalBackend):
            super()._save_checkpoint_with_step(runner, step, meta)
            return
        stale = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids
                                            and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                stale = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info("keep_ckpt_ids", list(self.keep_ckpt_ids))
        name = self.filename_tmpl.format(step)
        self.last_ckpt = os.path.join(self.out_dir, name)
        runner.message_hub.update_info("last_ckpt", self.last_ckpt)
        runner.save_checkpoint(self.out_dir, name + _TMP, self.file_client_args,
                               save_optimizer=self.save_optimizer,
                               save_param_scheduler=self.save_param_scheduler, meta=meta,
                               by_epoch=self.by_epoch, backend_args=self.backend_args,
                               **self.args)
        if not is_main_process():
            return
        fault_point("checkpoint.before_rename")
        os.replace(self.last_ckpt + _TMP, self.last_ckpt)
        _replace_text(Path(runner.work_dir) / "last_checkpoint", self.last_ckpt)
        if stale is not None and stale != step:
            old = Path(self.out_dir) / self.filename_tmpl.format(stale)
            if old.is_file():
                old.unlink()


_STEP = re.compile(r"(?:epoch|iter)_(\d+)\.pth$")


def loadable(path: Path) -> bool:
    """Whether ``path`` is a complete ``torch.save`` file (its zip directory and CRCs)."""
    try:
        with zipfile.ZipFile(path) as z:
            return z.testzip() is None
    except (OSError, zipfile.BadZipFile, EOFError):
        return False


def resume_checkpoint(work_dir: Path) -> tuple[Path | None, list[str]]:
    """The newest loadable checkpoint in ``work_dir`` and notes on what was skipped.

    Candidates: the file ``last_checkpoint`` names, then ``epoch_N.pth`` / ``iter_N.pth``
    from the highest N down. A missing or truncated candidate is skipped with a note, so a
    job killed inside a save by an older hook resumes from the previous checkpoint instead
    of failing on every attempt.
    """
    notes: list[str] = []
    candidates: list[Path] = []
    pointer = work_dir / "last_checkpoint"
    if pointer.is_file():
        candidates.append(Path(pointer.read_text().strip()))
    found = [(int(m.group(1)), p) for p in work_dir.glob("*.pth")
             if (m := _STEP.search(p.name))]
    candidates += [p for _, p in sorted(found, key=lambda t: t[0], reverse=True)]
    for path in dict.fromkeys(candidates):
        if not path.is_file():
            notes.append(f"skipped {path}: named by last_checkpoint but missing")
        elif not loadable(path):
            notes.append(f"skipped {path}: incomplete (truncated or corrupt)")
        else:
            return path, notes
    return None, notes
