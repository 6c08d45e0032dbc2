"""Fault injection: SIGKILL a process at a named kill window, on request.

Production code marks each window with :func:`orchestrator.faults.fault_point`, a no-op
unless ``$CM_FAULT`` is set and ``$CM_FAULT_HANDLER`` names this module; the
fault-injection tests (``tests/test_orchestrator/test_faults*.py``) set the variables on
``orchestrator run`` (job processes inherit them) and check that a rerun loses and repeats
nothing. :func:`fault_env` builds the environment.

Environment:
    CM_FAULT: Comma-separated names of the windows that fire (see :data:`WINDOWS`).
    CM_FAULT_KILL: ``self`` (default) SIGKILLs the process at the window; ``parent``
        SIGKILLs its parent first (the orchestrator, for a window inside a job process, so
        the whole run dies as on a kill of ``orchestrator run``), then itself.
    CM_FAULT_ONCE: A marker file: the fault fires only while it does not exist, and
        creates it (so a retried job or a rerun passes the window).
"""
from __future__ import annotations

import os
import signal
from pathlib import Path

#: Every kill window: where it is and what a kill there leaves behind.
WINDOWS: dict[str, str] = {
    "run.enqueued": "orchestrator: jobs queued, no MLflow parent run yet",
    "write:config.py": "orchestrator: a job's config.py in its temp file, not renamed",
    "write:job.json": "orchestrator: a job's job.json in its temp file, not renamed",
    "prepare.run_created": "orchestrator: the job's MLflow run created, its id not queued",
    "record.before_finish": "orchestrator: a job exited 0 with result.json; queue not told",
    "record.after_finish": "orchestrator: the queue says succeeded; MLflow not told",
    "run.all_done": "orchestrator: every job finished; the parent run still RUNNING",
    "job.started": "job process: started, nothing done",
    "job.after_metrics": "job process: final metrics in MLflow, no result.json",
    "write:result.json": "job process: result.json in its temp file, not renamed",
    "job.after_result": "job process: result.json written; its MLflow run still RUNNING",
    "checkpoint.before_rename": "job process: a checkpoint complete in its temp file",
}
#: Windows inside the job process (a test kills the orchestrator from there).
JOB_WINDOWS = frozenset(n for n, what in WINDOWS.items() if what.startswith("job process"))


def fault(name: str) -> None:
    """SIGKILL the process when ``$CM_FAULT`` lists the window ``name``."""
    if name not in os.environ.get("CM_FAULT", "").split(","):
        return
    once = os.environ.get("CM_FAULT_ONCE")
    if once:
        try:
            os.close(os.open(once, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return  # fired before
    if os.environ.get("CM_FAULT_KILL", "self") == "parent":
        os.kill(os.getppid(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def fault_env(window: str, marker: Path) -> dict[str, str]:
    """Environment variables that SIGKILL ``orchestrator run`` once at ``window``.

    A window inside the job process kills the job's parent (the orchestrator) and the job.
    """
    return {"CM_FAULT": window, "CM_FAULT_HANDLER": __name__, "CM_FAULT_ONCE": str(marker),
            "CM_FAULT_KILL": "parent" if window in JOB_WINDOWS else "self"}
