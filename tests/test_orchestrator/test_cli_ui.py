"""``orchestrator ui`` prints its address only once the server answers."""
from __future__ import annotations

import socket
import sys
import textwrap
import time
from pathlib import Path

from orchestrator.run.ui import CLASSIC_VIEW, mlflow_page, serve_web_ui

#: A stand-in for ``mlflow ui``: silent for ``delay`` seconds, then answers /health (and
#: records when it started to), then exits after ``serve`` seconds.
_FAKE = textwrap.dedent("""
    import http.server, sys, threading, time
    port, delay, serve = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    stamp = sys.argv[4]
    time.sleep(delay)
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()
            self.wfile.write(b"OK")
        def log_message(self, *a):
            pass
    srv = http.server.HTTPServer(("127.0.0.1", port), H)
    open(stamp, "w").write(repr(time.time()))
    threading.Timer(serve, srv.shutdown).start()
    srv.serve_forever()
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_url_is_printed_after_the_server_answers(tmp_path: Path) -> None:
    port, stamp = _free_port(), tmp_path / "listening"
    script = tmp_path / "fake_ui.py"
    script.write_text(_FAKE)
    said: list[tuple[float, str]] = []
    rc = serve_web_ui("MLflow UI", [sys.executable, str(script), str(port), "1.5", "1.0",
                                    str(stamp)], port, "/health", mlflow_page("7"),
                      timeout_s=60, say=lambda s: said.append((time.time(), s)))
    assert rc == 0
    lines = [s for _, s in said]
    url = f"http://127.0.0.1:{port}/#/experiments/7?{CLASSIC_VIEW}"
    ready = [i for i, s in enumerate(lines) if url in s]
    assert ready == [len(lines) - 1], lines  # announced once, last, and nowhere before
    assert not any(f":{port}/" in s for s in lines[:-1])
    assert said[-1][0] >= float(stamp.read_text())  # not before the server listened


def test_a_server_that_never_answers_is_stopped_with_a_message(tmp_path: Path) -> None:
    port = _free_port()
    said: list[str] = []
    t0 = time.monotonic()
    rc = serve_web_ui("MLflow UI", [sys.executable, "-c", "import time; time.sleep(60)"],
                      port, "/health", mlflow_page(), timeout_s=1.5, say=said.append)
    assert rc == 1 and time.monotonic() - t0 < 20
    assert "did not answer" in said[-1] and "--wait" in said[-1]
    assert not any("ready" in s for s in said)


def test_a_taken_port_is_reported(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        said: list[str] = []
        rc = serve_web_ui("MLflow UI", ["true"], s.getsockname()[1], "/health",
                          mlflow_page(), timeout_s=5, say=said.append)
    assert rc == 1 and "is taken" in said[0]
