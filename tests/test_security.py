"""Security: the app listens on loopback only, and secrets never reach what perfgate prints or
writes (log tails, reports, results, its copy of the app log)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from perfgate.cli.main import main
from perfgate.config import AppConfig
from perfgate.redact import MASK, Redactor
from perfgate.report.text import cell
from perfgate.run.server import gunicorn_command, running_app
from tests.faultkit import REPO, faulty_app, write_config


def _listening_addresses(pids: set[int]) -> set[str]:
    """Local addresses of the TCP sockets these processes listen on (from /proc)."""
    inodes = set()
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(fd)
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A = LISTEN
                found.add(fields[1])
    return found


def _group(pgid: int) -> set[int]:
    members = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    members.add(int(entry.name))
            except OSError:
                continue
    return members


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads /proc/net/tcp")
def test_gunicorn_listens_on_loopback_only(tmp_path: Path) -> None:
    app = AppConfig(
        target="tests.apps.faulty:create_app()", workers=2, env={"PYTHONPATH": str(REPO)}
    )
    assert "127.0.0.1:8000" in gunicorn_command(app, tmp_path, 8000)
    with running_app(app, tmp_path, tmp_path / "out") as running:
        assert running.process is not None
        addresses = _listening_addresses(_group(running.process.pid))
    port = int(running.base_url.rsplit(":", 1)[1])
    # /proc shows the address as hex, little-endian: 0100007F is 127.0.0.1.
    assert addresses == {f"0100007F:{port:04X}"}


TOKEN = "tok-9d1e7a55c3"
PASSWORD = "pw-hunter2-471"
DSN = "postgres://app:dsn-pass-5521@db/app"


def test_secrets_never_reach_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # One secret of perfgate's own environment (the app inherits it), one in app.env named like
    # a token, one the user marks secret. The app prints all three; its start then fails.
    monkeypatch.setenv("SERVICE_PASSWORD", PASSWORD)
    env = {
        "API_TOKEN": TOKEN,
        "DATABASE_DSN": DSN,
        "FAULTY_ECHO_ENV": "API_TOKEN,SERVICE_PASSWORD,DATABASE_DSN",
    }
    extra = "  secret_env: [DATABASE_DSN]\n  ready_path: /status/503\n  startup_timeout_s: 1.5\n"
    body = faulty_app(env, extra=extra) + "endpoints:\n  - {name: items, path: /items}\n"
    config = write_config(tmp_path / "cfg", body)
    out = tmp_path / "out"
    assert main(["check", "-c", str(config), "--out", str(out)]) == 3
    printed = capsys.readouterr()
    everything = printed.out + printed.err
    for name in ("results.json", "report.md", "report.html", "app.log"):
        everything += (out / name).read_text()
    for secret in (TOKEN, PASSWORD, DSN):
        assert secret not in everything
    # The lines are still there, masked: the reader sees that a value was printed.
    assert f"config API_TOKEN={MASK}" in printed.err
    assert f"config DATABASE_DSN={MASK}" in (out / "app.log").read_text()


def test_redactor_masks_names_that_look_secret_and_marked_ones() -> None:
    app = AppConfig(
        url="http://127.0.0.1:1",
        env={"GITHUB_TOKEN": "ghp_abcdef", "PLAIN": "visible-value", "MINE": 'a"quoted\\one'},
        secret_env=["MINE"],
    )
    redact = Redactor.for_app(app, environ={"DB_PASSWORD": "pw-1234", "PWD": "/home/me"})
    text = 'ghp_abcdef visible-value pw-1234 /home/me {"v": "a\\"quoted\\\\one"} a"quoted\\one'
    assert redact(text) == f'{MASK} visible-value {MASK} /home/me {{"v": "{MASK}"}} {MASK}'


def test_short_values_are_not_masked_everywhere() -> None:
    # A one-character "secret" would turn every 1 in the report into ***.
    redact = Redactor.for_app(None, environ={"SOME_TOKEN": "1"})
    assert redact("1 request, 100 ms") == "1 request, 100 ms"


def test_app_text_cannot_link_mention_or_cross_reference_on_github() -> None:
    hostile = "see #123, acme/shop#7, @octocat, https://evil.example/x and www.evil.example"
    safe = cell(hostile)
    for live in ("#123", "#7", "@octocat", "https://", "www.evil"):
        assert live not in safe
    # Only invisible characters were added: the reader still sees the same words.
    assert safe.replace("\u200b", "") == hostile
    assert cell("[x](javascript:alert(1))") == "&#91;x&#93;(javascript:alert(1))"
