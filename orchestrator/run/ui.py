"""Web UIs (``orchestrator ui``: MLflow's; ``orchestrator dashboard``: optuna-dashboard),
started as child processes and announced only once they answer.

MLflow takes tens of seconds to import on a busy machine; printing the address at once
sent people to a page that did not load. :func:`serve_web_ui` polls the server's health
path and prints the address when it answers (or says why it did not within ``--wait``).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

#: MLflow 3's UI opens experiments in its GenAI view unless the page asks for the classic
#: one; the choice travels in this query parameter (and the UI keeps it while navigating).
CLASSIC_VIEW = "workflowType=machine_learning"


def ui_command(uri: str, port: int) -> list[str]:
    """The server process: ``mlflow ui`` on 127.0.0.1, one worker (MLflow's default of 4
    each import MLflow before the first answer: minutes on a busy 2-core machine)."""
    return [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host",
            "127.0.0.1", "--port", str(port), "--workers", "1"]


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_until_up(url: str, proc: subprocess.Popen[bytes], timeout_s: float,
                  tick: Callable[[float], None] | None = None) -> bool:
    """Poll ``url`` until it answers 200 (True), the process exits or the time is up (False).

    ``tick(elapsed_s)`` is called about every 10 s while waiting.
    """
    t0 = last_tick = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        now = time.monotonic()
        if tick is not None and now - last_tick >= 10:
            tick(now - t0)
            last_tick = now
        time.sleep(0.25)
    return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def serve_web_ui(what: str, command: Sequence[str], port: int, health: str, page: str,
                 timeout_s: float, say: Callable[[str], None]) -> int:
    """Start a web UI, print ``page`` once ``health`` answers, serve until Ctrl-C or its exit.

    Args:
        what: Its name in messages (``MLflow UI``).
        command: The server process (listening on 127.0.0.1:``port``).
        port: Its port (checked free first).
        health: Path that answers 200 once it serves (``/health``).
        page: What to open, relative to the server (``#/experiments``).
        timeout_s: Longest wait for the first answer; then the server is stopped.
        say: Where messages go.

    Returns:
        0 after Ctrl-C or a clean exit of the server, 1 when it did not come up.
    """
    if port_in_use(port):
        say(f"port {port} on 127.0.0.1 is taken (another {what}?); choose one with --port")
        return 1
    base = f"http://127.0.0.1:{port}"
    say(f"starting the {what} on port {port}; waiting for it to answer (up to "
        f"{timeout_s:.0f} s) ...")
    # Its own process group: Ctrl-C reaches only us, and we stop the server and any workers
    # (SIGTERM too: it ends up in the same clean-up).
    proc = subprocess.Popen(list(command), start_new_session=True)

    def _term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _term)
    try:
        up = wait_until_up(base + health, proc, timeout_s,
                           tick=lambda s: say(f"  ... still starting ({s:.0f} s)"))
        if not up:
            if proc.poll() is not None:
                say(f"the {what} exited with status {proc.returncode} before answering")
                return 1
            say(f"the {what} did not answer at {base} within {timeout_s:.0f} s; stopped it "
                "(a slower machine needs a larger --wait)")
            return 1
        say(f"{what} ready: {base}/{page}  (Ctrl-C to stop)")
        return int(proc.wait() or 0)
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        _stop(proc)


def mlflow_page(experiment_id: str | None = None) -> str:
    """The UI page of an experiment (or the list), in the classic ML view."""
    page = f"#/experiments/{experiment_id}" if experiment_id else "#/experiments"
    return f"{page}?{CLASSIC_VIEW}"
