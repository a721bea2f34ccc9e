"""Start the app, wait until it answers, and always stop every process it started.

`with running_app(app_config, folder, log_dir) as app:` yields an `App` with its base URL. The app
runs in its own process group so that stopping it stops gunicorn's workers too, whatever way the
block is left (success, error, Ctrl-C).
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import requests

from perfgate import instrument
from perfgate.config import AppConfig
from perfgate.errors import MeasurementError

LOG_TAIL_LINES = 30
STOP_GRACE_S = 8.0


@dataclass(frozen=True)
class App:
    base_url: str
    description: str
    log_path: Path | None
    process: subprocess.Popen[bytes] | None
    # Where the instrumented app leaves per-request statement counts (None: not counted).
    query_dir: Path | None = None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return read_tail(self.log_path, lines)

    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None


def read_tail(path: Path | None, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log, with traceback frames dropped so the exception lines fit."""
    if path is None or not path.exists():
        return ""
    text = path.read_bytes()[-64_000:].decode("utf-8", errors="replace")
    kept: list[str] = []
    skip_code_line = False
    for line in text.splitlines():
        if line.startswith('  File "'):
            skip_code_line = True
            continue
        if skip_code_line and line.startswith("    "):
            continue
        skip_code_line = False
        kept.append(line)
    return "\n".join(kept[-lines:])


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def gunicorn_version() -> str | None:
    try:
        return metadata.version("gunicorn")
    except metadata.PackageNotFoundError:
        return None


def gunicorn_command(app: AppConfig, folder: Path, port: int) -> list[str]:
    assert app.target is not None
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(app.workers),
        "--worker-class",
        app.worker_class,
        "--threads",
        str(app.threads),
        "--pythonpath",
        str(folder),
        "--error-logfile",
        "-",
    ]
    version = gunicorn_version() or "0"
    if int(version.split(".")[0]) >= 27:
        # gunicorn 27 puts a control socket at one fixed path under $HOME; side-by-side
        # instances (tests, A/B runs) would fight over it.
        command.append("--no-control-socket")
    # Counting queries: gunicorn runs perfgate's wrapper, which imports app.target itself.
    return [*command, instrument.TARGET if app.wrapped_for_queries else app.target]


def instrument_env(app: AppConfig, query_dir: Path, pythonpath: str = "") -> dict[str, str]:
    """The environment the wrapper needs (empty when the app is not wrapped)."""
    if not app.wrapped_for_queries or not app.target:
        return {}
    # The wrapper must be this very perfgate, wherever it was imported from; appended last so
    # the app's own modules keep their precedence.
    here = str(Path(instrument.__file__).resolve().parents[1])
    paths = [p for p in pythonpath.split(os.pathsep) if p]
    return {
        instrument.TARGET_ENV: app.target,
        instrument.DIR_ENV: str(query_dir),
        "PYTHONPATH": os.pathsep.join([*paths, here]),
    }


@contextmanager
def running_app(app: AppConfig, folder: Path, log_dir: Path) -> Iterator[App]:
    """Start (or reach) the configured app and yield it once it answers on app.ready_path."""
    if app.url:
        base_url = app.url.rstrip("/")
        handle = App(base_url, f"already running at {base_url}", None, None)
        _wait_ready(handle, app)
        yield handle
        return

    port = free_port()
    if app.target:
        argv = gunicorn_command(app, folder, port)
        description = f"gunicorn {app.target} ({app.workers} x {app.worker_class} workers)"
    else:
        assert app.command is not None
        argv = shlex.split(app.command.replace("{port}", str(port)))
        description = app.command.replace("{port}", str(port))
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "app.log"
    query_dir = (log_dir / "queries").resolve()
    env = {**os.environ, **app.env}
    extra_env = instrument_env(app, query_dir, env.get("PYTHONPATH", ""))
    env.update(extra_env)
    with log_path.open("wb") as log:
        try:
            process = subprocess.Popen(
                argv,
                cwd=folder,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise MeasurementError(
                f"cannot start the app: {argv[0]}: {exc.strerror}",
                "check app.command / app.target in the config",
            ) from None
    handle = App(
        f"http://127.0.0.1:{port}", description, log_path, process,
        query_dir if extra_env else None,
    )  # fmt: skip
    try:
        _wait_ready(handle, app)
        yield handle
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the whole process group: polite first, then SIGKILL, so no worker outlives us."""
    try:
        group = os.getpgid(process.pid)
    except ProcessLookupError:
        group = process.pid
    _signal_group(group, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        pass
    # Workers of a master that died may linger in the group: make sure.
    _signal_group(group, signal.SIGKILL)
    process.wait()


def _signal_group(group: int, sig: signal.Signals) -> None:
    try:
        os.killpg(group, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_ready(app: App, config: AppConfig) -> None:
    url = app.base_url + config.ready_path
    deadline = time.monotonic() + config.startup_timeout_s
    last_problem = "no answer"
    with requests.Session() as session:
        while time.monotonic() < deadline:
            if app.exited():
                code = app.process.returncode if app.process else None
                raise MeasurementError(
                    f"the app exited with code {code} before it was ready ({app.description})",
                    "read the app log below; the app must start and answer " + config.ready_path,
                    log_tail=app.log_tail(),
                )
            try:
                response = session.get(url, timeout=2)
                if response.status_code < 500:
                    return
                last_problem = f"HTTP {response.status_code}"
            except requests.RequestException as exc:
                last_problem = type(exc).__name__
            time.sleep(0.05)
    raise MeasurementError(
        f"the app was not ready after {config.startup_timeout_s:g} s: {url} gave {last_problem}",
        "raise app.startup_timeout_s or fix app.ready_path",
        log_tail=app.log_tail(),
    )
