"""`perfgate load URL`, the `load.rate` setting, and the report's load self-check lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from perfgate.cli.main import main
from perfgate.config import load_config
from perfgate.errors import ConfigError
from perfgate.report.markdown import render_markdown
from perfgate.results import Environment, LoadLevel, ResultsFile, RunResult
from perfgate.run.server import free_port
from tests import adhoc_http as adhoc
from tests.test_netlimits import level as load_level

SRC = Path(__file__).resolve().parent.parent / "src"
POINTS = {"p50", "p90", "p95", "p99", "p999", "max"}


def test_load_json_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    with adhoc.AdhocServer(adhoc.keep_alive) as server:
        status = main(["load", f"{server.url}/x?y=1", "-c", "2", "-d", "0.4", "--json",
                       "-H", "X-Token: abc", "-m", "get"])  # fmt: skip
        heads = list(server.heads)
    assert status == 0
    result = json.loads(capsys.readouterr().out)
    assert result["requests"] > 0 and result["errors"] == {}
    assert result["duration_s"] == 0.4
    assert result["rps"] == pytest.approx(result["requests"] / 0.4, rel=0.01)
    assert set(result["latency_ms"]) == POINTS
    assert all(v is not None and v > 0 for v in result["latency_ms"].values())
    assert result["client_cpu_us_per_request"] > 0
    assert heads[0].startswith(b"GET /x?y=1 HTTP/1.1\r\n")
    assert b"\r\nX-Token: abc\r\n" in heads[0]


def test_load_text_with_rate_reports_the_schedule(capsys: pytest.CaptureFixture[str]) -> None:
    with adhoc.AdhocServer(adhoc.keep_alive) as server:
        status = main(["load", server.url, "-c", "2", "-d", "0.5", "--rate", "40"])
    out = capsys.readouterr().out
    assert status == 0
    assert "open at 40 req/s" in out and "send lateness" in out
    assert "client CPU" in out and "p99.9" in out


def test_load_json_as_a_subprocess() -> None:
    with adhoc.AdhocServer(adhoc.close_each) as server:
        env = {**os.environ, "PYTHONPATH": str(SRC)}
        done = subprocess.run(
            [sys.executable, "-m", "perfgate", "load", server.url, "-c", "3", "-d", "0.4",
             "--json"],
            capture_output=True, text=True, env=env, timeout=60, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["requests"] > 0 and result["status_codes"] == {"200": result["requests"]}
    assert "\r" not in done.stdout  # no progress line when stdout is not a terminal


def test_load_nobody_listening_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["load", f"http://127.0.0.1:{free_port()}/", "-c", "1", "-d", "0.2"])
    captured = capsys.readouterr()
    assert status == 3
    assert "connect_refused" in captured.out
    assert captured.err.count("\n") == 1 and "no request" in captured.err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["https://127.0.0.1/"], "only http://"),
        (["http://127.0.0.1:1/", "-c", "0"], "-c/--concurrency = 0"),
        (["http://127.0.0.1:1/", "-d", "-1"], "-d/--duration = -1"),
        (["http://127.0.0.1:1/", "--rate", "0"], "--rate = 0"),
        (["http://127.0.0.1:1/", "-H", "no colon"], "-H/--header 'no colon'"),
        (["http://127.0.0.1:1/", "-m", "FETCH"], "-m/--method = 'FETCH'"),
    ],
)
def test_load_bad_flags_exit_2_with_one_line(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["load", *argv])
    err = capsys.readouterr().err
    assert status == 2
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err


def test_config_rate_is_validated(tmp_path: Path) -> None:
    path = tmp_path / "thresholds.yaml"
    base = "app:\n  url: http://127.0.0.1:1\nendpoints:\n  - name: h\n    path: /h\n"
    path.write_text(base + "load:\n  rate: 250\n")
    assert load_config(path).load.rate == 250
    path.write_text(base + "load:\n  rate: -5\n")
    with pytest.raises(ConfigError, match=r"load\.rate = -5"):
        load_config(path)


def _results(level: LoadLevel) -> ResultsFile:
    env = Environment(python="3.11", platform="Linux", cpus=2, gunicorn=None, perfgate="0",
                      git_commit=None)  # fmt: skip
    run = RunResult(created_at="now", config_digest="d", app="a", environment=env, endpoints=[],
                    load=[level])  # fmt: skip
    return ResultsFile(verdict="pass", checks=[], run=run)


def test_report_warns_when_the_client_was_the_limit() -> None:
    note = "perfgate's own CPU use was 97% of one core at 50 connections"
    level = load_level(client_cpu_share=0.97, client_limited=True, notes=[note])
    text = render_markdown(_results(level))
    warning = "- ⚠️ Load at c=50: perfgate's own CPU use was 97% of one core"
    assert warning in text
    assert text.index(warning) < text.index("<details>")  # not folded away


def test_report_describes_the_open_model_and_stays_quiet_otherwise() -> None:
    quiet = render_markdown(_results(load_level()))
    assert "⚠️ Load" not in quiet and "open model" not in quiet
    level = load_level(model="open", target_rps=250.0, dropped=7, send_lateness_ms={"p99": 3.5})
    text = render_markdown(_results(level))
    assert "open model, 200.0 of 250 req/s achieved, 7 dropped, p99 send lateness 3.5 ms" in text
    assert "### Load (open model at a fixed rate" in text


def test_progress_line_only_on_a_terminal() -> None:
    import pty

    with adhoc.AdhocServer(adhoc.keep_alive) as server:
        leader, follower = pty.openpty()
        env = {**os.environ, "PYTHONPATH": str(SRC)}
        process = subprocess.Popen(
            [sys.executable, "-m", "perfgate", "load", server.url, "-c", "1", "-d", "1.3"],
            stdout=follower, stderr=subprocess.PIPE, env=env,
        )  # fmt: skip
        os.close(follower)
        output = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            output += chunk
        process.wait(timeout=60)
        os.close(leader)
    text = output.decode()
    assert process.returncode == 0
    assert "\r" in text and " requests " in text and "req/s" in text  # the progress line
    assert "\r\x1b[K" in text  # cleared before the summary
    assert "client CPU" in text
