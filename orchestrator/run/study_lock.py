"""One version of a study at a time: a lock per study name in the workspace.

Two ``orchestrator run`` processes on the same study file (same name, text and profile)
may share the work: the queue hands each job to one of them. Two *versions* of a study
(the file edited while a run is going, or another profile of it) must not run at once:
each version's enqueue would detach the other's jobs from the study, and one would end
"successfully" having run part of its plan. :func:`hold_study_version` takes a shared
``flock`` on ``locks/<study>.<version>.lock`` for the whole run, after checking under
``locks/<study>.lock`` that no other version's lock is held. The kernel drops the lock when
the process dies, even on SIGKILL, so a killed run never blocks the next one.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO


class StudyBusy(RuntimeError):
    """Another version of the study is being run by a live orchestrator."""


def study_version_id(text: bytes, profile: str) -> str:
    """A study's version: a hash of its file's bytes and the profile that runs."""
    return hashlib.sha256(profile.encode() + b"\0" + text).hexdigest()[:12]


def _held(path: Path) -> bool:
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False


@dataclass
class StudyLock:
    """The held lock; :meth:`release` (or the process's end) lets another version run."""

    path: Path
    file: IO[str]

    def release(self) -> None:
        self.file.close()


def hold_study_version(locks: Path, study: str, file: Path, profile: str) -> StudyLock:
    """Hold ``study``'s lock for this version of it (``file``'s text and ``profile``).

    Raises:
        StudyBusy: A live process holds another version of the study; the message names
            both versions (file, profile, version id, pid, start time).
    """
    version = study_version_id(file.read_bytes(), profile)
    locks.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(study.encode()).hexdigest()[:16]
    mine = locks / f"{key}.{version}.lock"
    with open(locks / f"{key}.lock", "a+") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)  # one check-and-take at a time
        for other in sorted(locks.glob(f"{key}.*.lock")):
            if other == mine:
                continue
            if not _held(other):
                other.unlink(missing_ok=True)  # a finished or killed run's lock
                continue
            try:
                them = json.loads(other.read_text())
            except (OSError, ValueError):
                them = {}
            raise StudyBusy(
                f"study {study!r} is being run from another version of its file: "
                f"{them.get('file', '?')} (profile {them.get('profile', '?')}, version "
                f"{them.get('version', '?')}, pid {them.get('pid', '?')}, started "
                f"{them.get('started', '?')}); this is {file} (profile {profile}, version "
                f"{version}). One version of a study runs at a time: wait for that run to "
                "end (or stop it), then run this one. Nothing was queued.")
        hold = open(mine, "a+")  # noqa: SIM115 - held until released
        fcntl.flock(hold, fcntl.LOCK_SH)
        hold.seek(0)
        hold.truncate()
        hold.write(json.dumps({"study": study, "version": version, "file": str(file),
                               "profile": profile, "pid": os.getpid(),
                               "started": time.strftime("%Y-%m-%d %H:%M:%S")}))
        hold.flush()
    return StudyLock(mine, hold)
