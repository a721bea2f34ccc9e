"""Is the app ready? Decided from the process and its socket, then from its answer.

A started app is ready once one of its own processes listens on the chosen port (read from
/proc, so an answer cannot come from whoever took the port between choosing it and the app's
bind) and its ready path answers below 500. An app that keeps answering with a server error is
given up on early, with what it said.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Protocol

import requests

from perfgate.config import AppConfig
from perfgate.errors import MeasurementError

POLL_S = 0.05
# An app that answers only 5xx for this long is broken, not slow to start.
SERVER_ERROR_GIVE_UP_S = 5.0
EXCERPT_CHARS = 200


class Started(Protocol):
    @property
    def base_url(self) -> str: ...
    @property
    def description(self) -> str: ...

    def exited(self) -> bool: ...
    def exit_code(self) -> int | None: ...
    def log_tail(self) -> str: ...
    def pid(self) -> int | None: ...


def wait_ready(
    app: Started, config: AppConfig, port: int | None = None, poll_timeout_s: float = 2.0
) -> None:
    """Wait until `app` is ready (module docstring); each poll waits up to `poll_timeout_s`
    for its answer (a poll that timed out still reaches the app once a worker is up)."""
    url = app.base_url + config.ready_path
    deadline = time.monotonic() + config.startup_timeout_s
    last_problem = "no answer"
    failing_since: float | None = None
    with requests.Session() as session:
        while time.monotonic() < deadline:
            if app.exited():
                raise MeasurementError(
                    f"the app exited with code {app.exit_code()} before it was ready "
                    f"({app.description})",
                    "read the app log below; the app must start and answer " + config.ready_path,
                    log_tail=app.log_tail(),
                )
            pid = app.pid()
            if port is not None and pid is not None and listening(pid, port) is False:
                last_problem = f"no process of the app listens on port {port} yet"
                time.sleep(POLL_S)
                continue
            try:
                response = session.get(url, timeout=poll_timeout_s)
            except requests.RequestException as exc:
                last_problem, failing_since = type(exc).__name__, None
                time.sleep(POLL_S)
                continue
            if response.status_code < 500:
                return
            last_problem = f"HTTP {response.status_code}: {_excerpt(response.text)}"
            failing_since = failing_since or time.monotonic()
            if time.monotonic() - failing_since >= SERVER_ERROR_GIVE_UP_S:
                raise MeasurementError(
                    f"the app answers GET {url} with a server error for "
                    f"{SERVER_ERROR_GIVE_UP_S:g} s: {last_problem}",
                    "read the app log below; the app must answer " + config.ready_path,
                    log_tail=app.log_tail(),
                )
            time.sleep(POLL_S)
    raise MeasurementError(
        f"the app was not ready after {config.startup_timeout_s:g} s: GET {url} gave "
        f"{last_problem}",
        "raise app.startup_timeout_s or fix app.ready_path",
        log_tail=app.log_tail(),
    )


def listening(group: int, port: int) -> bool | None:
    """Whether a process of process group `group` holds a socket listening on 127.0.0.1:`port`;
    None where /proc cannot tell (not Linux)."""
    try:
        table = Path("/proc/net/tcp").read_text()
    except OSError:
        return None
    wanted = f"0100007F:{port:04X}"
    inodes = {
        fields[9]
        for fields in (line.split() for line in table.splitlines()[1:])
        if len(fields) > 9 and fields[1] == wanted and fields[3] == "0A"  # 0A: LISTEN
    }
    if not inodes:
        return False
    # The leader first: gunicorn's master holds the socket; a command may hand it to a child.
    return _holds(group, inodes) or any(_holds(pid, inodes) for pid in _others_in(group))


def _others_in(group: int) -> list[int]:
    others = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != group:
            try:
                if os.getpgid(int(entry.name)) == group:
                    others.append(int(entry.name))
            except OSError:
                continue
    return others


def _holds(pid: int, inodes: set[str]) -> bool:
    try:
        links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
    except OSError:
        return False
    return any(link[8:-1] in inodes for link in links if link.startswith("socket:["))


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return repr(flat[:EXCERPT_CHARS] + ("..." if len(flat) > EXCERPT_CHARS else ""))
