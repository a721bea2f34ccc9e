"""Faults in the app under test: each ends with the right exit code, the app's log tail, the
results measured so far written (marked incomplete), and no process left behind."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest

from perfgate.cli.main import main
from perfgate.run import server
from tests.faultkit import faulty_app, processes_with, write_config

QUICK = """
profile: {warmup: 1, samples: 5, trials: 1, timeout_s: 5}
load: {concurrency: [2, 3], duration_s: 0.6, warmup_s: 0}
"""


def _run(folder: Path, body: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, dict]:
    config = write_config(folder, body)
    out = folder / "out"
    status = main(["check", "-c", str(config), "--out", str(out)])
    printed = capsys.readouterr()
    results = json.loads((out / "results.json").read_text())
    assert (out / "report.md").exists()
    # perfgate's own words carry no traceback (the app's log tail may: it is the app's).
    assert "Traceback" not in printed.err.partition("--- app log")[0]
    assert processes_with(str(folder)) == []
    return status, printed.out + printed.err, results


def test_app_that_fails_to_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = faulty_app({"TINY_FAIL_IMPORT": "1"}).replace("faulty:", "tiny:")
    body = app + "endpoints:\n  - {name: items, path: /items}\n" + QUICK
    status, text, results = _run(tmp_path / "cfg", body, capsys)
    assert status == 3
    assert "before it was ready" in text
    assert "--- app log (last lines) ---" in text
    assert "tiny app told to fail at import" in text
    assert results["run"]["complete"] is False
    assert "during startup" in results["run"]["incomplete_reason"]
    assert results["verdict"] == "fail"


def test_master_killed_during_load(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The profile sends 6 requests to /items; the 12th, in the first load level, kills the master.
    env = {"FAULTY_KILL": "master", "FAULTY_KILL_AFTER": "12"}
    body = faulty_app(env) + "endpoints:\n  - {name: items, path: /items}\n" + QUICK
    status, text, results = _run(tmp_path / "cfg", body, capsys)
    assert status == 3
    assert "the app exited with code -9 during the load at 2 connections" in text
    assert "--- app log (last lines) ---" in text
    run = results["run"]
    assert run["complete"] is False
    assert [p["name"] for p in run["endpoints"]] == ["items"]
    assert run["endpoints"][0]["requests"] == 5
    # The level the master died in is kept (with its errors); the next one never ran.
    assert [level["concurrency"] for level in run["load"]] == [2]


def test_worker_killed_during_load(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    once = tmp_path / "killed-once"
    env = {"FAULTY_KILL": "worker", "FAULTY_KILL_AFTER": "12", "FAULTY_ONCE": str(once)}
    body = faulty_app(env) + "endpoints:\n  - {name: items, path: /items}\n" + QUICK
    status, text, results = _run(tmp_path / "cfg", body, capsys)
    assert once.exists()
    # gunicorn replaces the worker and the run goes on, but its figures are not a healthy app's.
    assert status == 1
    assert "incomplete   an app worker died during the run: " in text
    run = results["run"]
    assert run["complete"] is False
    assert "an app worker died during the run: " in run["incomplete_reason"]
    assert "was sent SIGKILL" in run["incomplete_reason"]
    assert [level["concurrency"] for level in run["load"]] == [2, 3]


def test_endpoint_that_hangs_past_its_timeout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = faulty_app({"FAULTY_HANG_S": "2"}) + (
        "endpoints:\n  - {name: hang, path: /hang}\n"
        "profile: {warmup: 0, samples: 5, trials: 1, timeout_s: 0.3}\n"
        "load: {concurrency: [2], duration_s: 0.5, warmup_s: 0, timeout_s: 0.3}\n"
    )
    status, text, results = _run(tmp_path / "cfg", body, capsys)
    assert status == 1  # the default 1% error budget fails
    run = results["run"]
    assert run["complete"] is True
    assert run["endpoints"][0]["errors"] == {"timeout": 5}
    assert run["load"][0]["errors"].get("timeout", 0) >= 2


def test_readiness_never_reached(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = faulty_app(extra="  ready_path: /status/503\n  startup_timeout_s: 1.5\n")
    body = app + "endpoints:\n  - {name: items, path: /items}\n" + QUICK
    status, text, results = _run(tmp_path / "cfg", body, capsys)
    assert status == 3
    assert "not ready after 1.5 s" in text and "gave HTTP 503" in text
    assert "--- app log (last lines) ---" in text and "Booting worker" in text
    assert results["run"]["complete"] is False


def test_command_app_whose_port_is_taken(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # An app that binds a fixed port instead of perfgate's {port}.
        command = f"{sys.executable} -m http.server --bind 127.0.0.1 {port} --directory {{port}}"
        body = f"app:\n  command: {command}\n  ready_path: /\n" + (
            "endpoints:\n  - {name: root, path: /}\n" + QUICK
        )
        status, text, results = _run(tmp_path / "cfg", body, capsys)
    assert status == 3
    assert "exited with code 1 before it was ready" in text
    assert "Address already in use" in text


def test_gunicorn_port_taken_in_a_race(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone takes the port between perfgate choosing it and gunicorn binding it: perfgate
    must not take the stranger's answers for the app's (it waits for gunicorn's own word)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setattr(server, "free_port", lambda host="127.0.0.1": taken.getsockname()[1])
        app = faulty_app(extra="  startup_timeout_s: 3\n")
        body = app + "endpoints:\n  - {name: items, path: /items}\n" + QUICK
        status, text, results = _run(tmp_path / "cfg", body, capsys)
    assert status == 3
    assert "Connection in use" in text
    assert results["run"]["endpoints"] == []


def test_app_started_from_another_thread_runs_and_stops(tmp_path: Path) -> None:
    """Off the main thread no signal mask or parent-death signal is set up, and the app still
    starts, answers and is stopped."""
    import threading
    import urllib.request

    from perfgate.config import AppConfig
    from tests.faultkit import REPO

    app = AppConfig(
        target="tests.apps.faulty:create_app()", workers=1, env={"PYTHONPATH": str(REPO)}
    )
    answers: list[bytes] = []

    def use_app() -> None:
        with server.running_app(app, tmp_path, tmp_path / "out") as running:
            with urllib.request.urlopen(running.base_url + "/items", timeout=10) as response:
                answers.append(response.read())

    thread = threading.Thread(target=use_app)
    thread.start()
    thread.join(timeout=60)
    assert answers == [b'[{"id": 1}, {"id": 2}]']
    assert processes_with(str(tmp_path)) == []
