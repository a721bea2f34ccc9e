from __future__ import annotations

import http.server
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from perfgate.config import load_config
from perfgate.errors import MeasurementError
from perfgate.run.server import running_app
from tests.faultkit import processes_with


def test_gunicorn_app_starts_answers_and_leaves_nothing(
    tiny_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = load_config(tiny_config())
    with running_app(config.app, config.folder, tmp_path / "out") as app:
        assert app.base_url.startswith("http://127.0.0.1:")
        assert requests.get(app.base_url + "/items", timeout=5).status_code == 200
        # master + 2 workers, all found by the config folder on their command line
        assert len(processes_with(str(tmp_path))) >= 1
    assert processes_with(str(tmp_path)) == []
    assert "Booting worker" in (tmp_path / "out" / "app.log").read_text()


def test_app_that_fails_to_import_reports_its_log(
    tiny_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = load_config(tiny_config(env={"TINY_FAIL_IMPORT": "1"}))
    with pytest.raises(MeasurementError) as caught:
        with running_app(config.app, config.folder, tmp_path / "out"):
            pass
    assert "exited" in caught.value.message
    assert "TINY_FAIL_IMPORT" in caught.value.log_tail


def test_command_mode_runs_any_http_server(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("hello")
    path = tmp_path / "thresholds.yaml"
    path.write_text(
        f'app:\n  command: "{sys.executable} -m http.server {{port}} --bind 127.0.0.1"\n'
        "  ready_path: /index.html\n"
        "endpoints:\n  - name: page\n    path: /index.html\n"
    )
    config = load_config(path)
    with running_app(config.app, config.folder, tmp_path / "out") as app:
        assert requests.get(app.base_url + "/index.html", timeout=5).text == "hello"
        assert app.process is not None
        pid = app.process.pid
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


def test_url_mode_uses_a_running_server(tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        path = tmp_path / "thresholds.yaml"
        path.write_text(
            f"app:\n  url: http://127.0.0.1:{port}\n  ready_path: /\n"
            "endpoints:\n  - name: root\n    path: /\n"
        )
        config = load_config(path)
        with running_app(config.app, config.folder, tmp_path / "out") as app:
            assert app.base_url == f"http://127.0.0.1:{port}"
            assert app.process is None
    finally:
        server.shutdown()
        server.server_close()


def test_readiness_never_reached_is_a_measurement_error(tmp_path: Path) -> None:
    # A server that answers 500 on the ready path never becomes ready.
    class Broken(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Broken)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        path = tmp_path / "thresholds.yaml"
        path.write_text(
            f"app:\n  url: http://127.0.0.1:{server.server_address[1]}\n  startup_timeout_s: 0.5\n"
            "endpoints:\n  - name: root\n    path: /\n"
        )
        config = load_config(path)
        with pytest.raises(MeasurementError, match="not ready after 0.5 s.*HTTP 503"):
            with running_app(config.app, config.folder, tmp_path / "out"):
                pass
    finally:
        server.shutdown()
        server.server_close()
