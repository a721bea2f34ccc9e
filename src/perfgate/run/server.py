"""Start the app, wait until it answers, and always stop every process it started.

`with running_app(app_config, folder, log_dir) as app:` yields an `App` with its base URL. The app
runs in its own process group so that stopping it stops gunicorn's workers too, whatever way the
block is left (success, error, Ctrl-C).
"""

from __future__ import annotations

import ctypes
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from perfgate.config import AppConfig
from perfgate.errors import MeasurementError
from perfgate.run.environment import SideEnvironment, shared_environment
from perfgate.run.inapp import instrument
from perfgate.run.ready import wait_ready

LOG_TAIL_LINES = 30
# SIGTERM first, SIGKILL after this: short, because once measuring is over (or interrupted) no
# in-flight request matters, and a CI job or a Ctrl-C must not wait on gunicorn's 30 s grace.
STOP_GRACE_S = 3.0
# gunicorn's master logs these when a worker dies other than by the master's own SIGTERM.
_WORKER_DEATH = re.compile(
    r"Worker \(pid:\d+\) (?:was sent (?!SIGTERM)\w+|exited with code \d+)|WORKER TIMEOUT"
)


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

    def exit_code(self) -> int | None:
        return self.process.returncode if self.process else None

    def pid(self) -> int | None:
        """The app's process, leader of its process group (None when reached by URL)."""
        return self.process.pid if self.process else None

    def begin_stop(self) -> None:
        """Send SIGTERM to the app's process group without waiting, so that several apps stop
        at once (gunicorn takes ~2 s); `running_app` still waits and makes sure on exit."""
        if self.process is not None and self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)  # its own session: pgid == pid

    def worker_deaths(self) -> list[str]:
        """Log lines saying a gunicorn worker died unexpectedly (crash, kill, timeout)."""
        text = read_tail(self.log_path, 10_000)
        return [line.strip() for line in text.splitlines() if _WORKER_DEATH.search(line)]


def begin_stopping(apps: list[App]) -> None:
    """Tell every app to stop at once (see App.begin_stop)."""
    for app in apps:
        app.begin_stop()


def read_tail(path: Path | None, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log, with traceback frames dropped so the exception lines fit."""
    if path is None or not path.exists():
        return ""
    text = path.read_bytes()[-256_000:].decode("utf-8", errors="replace")
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


def gunicorn_command(
    app: AppConfig, folder: Path, port: int, environment: SideEnvironment | None = None
) -> list[str]:
    assert app.target is not None
    environment = environment or shared_environment()
    command = [
        environment.python,
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
    version = environment.gunicorn or "0"
    if int(version.split(".")[0]) >= 27:
        # gunicorn 27 puts a control socket at one fixed path under $HOME; side-by-side
        # instances (tests, A/B runs) would fight over it.
        command.append("--no-control-socket")
    # Counting queries: gunicorn runs perfgate's wrapper, which imports app.target itself.
    return [*command, instrument.TARGET if app.wrapped_for_queries else app.target]


def instrument_env(
    app: AppConfig, query_dir: Path, pythonpath: str = "", inapp_path: Path | None = None
) -> dict[str, str]:
    """The environment the wrapper needs (empty when the app is not wrapped)."""
    if not app.wrapped_for_queries or not app.target:
        return {}
    # The wrapper must be this very perfgate's (a copy of its in-app package alone, when the
    # app has an environment of its own); appended last so the app's own modules keep their
    # precedence.
    here = str(inapp_path or shared_environment().inapp_path)
    paths = [p for p in pythonpath.split(os.pathsep) if p]
    return {
        instrument.TARGET_ENV: app.target,
        instrument.DIR_ENV: str(query_dir),
        "PYTHONPATH": os.pathsep.join([*paths, here]),
    }


def nth_instance(app: AppConfig, index: int, seed: int | None = None) -> AppConfig:
    """The config of instance `index` (0-based) of an app started several times: a fixed
    PYTHONHASHSEED, `seed` or else index + 1, unless app.env sets one.

    Why: Python randomizes string hashing per process, which reshuffles dicts and sets and moves
    a process's speed by a few percent; in two interleaved series of fresh instances here, fixed
    seeds cut the spread between instances of the same code by about a quarter
    (docs/evidence/defaults.md). Against a stored baseline, instance n of every run gets seed
    n + 1, so runs of different commits differ by their code, and how each commit meets those
    seeds is part of the run-to-run spread the history measures. Side by side (A/B), the two
    apps of a pair share a seed drawn for the check (measure.session): seed effects cancel
    where the code is the same, and where it differs, how base and head meet their seeds is a
    fresh draw every check (it shows in the pairs' spread, judge.pairs), not a bias repeated
    on every rerun."""
    if "PYTHONHASHSEED" in app.env:
        return app
    chosen = index + 1 if seed is None else seed
    return app.model_copy(update={"env": {**app.env, "PYTHONHASHSEED": str(chosen)}})


@contextmanager
def running_app(
    app: AppConfig,
    folder: Path,
    log_dir: Path,
    environment: SideEnvironment | None = None,
    prefix: Sequence[str] = (),
    poll_timeout_s: float = 2.0,
) -> Iterator[App]:
    """Start (or reach) the configured app and yield it once it answers on app.ready_path;
    it runs from `environment` (default: perfgate's own interpreter and packages), its command
    after `prefix` (a program that runs it, such as valgrind); readiness polls wait up to
    `poll_timeout_s` each."""
    if app.url:
        base_url = app.url.rstrip("/")
        handle = App(base_url, f"already running at {base_url}", None, None)
        wait_ready(handle, app)
        yield handle
        return

    port = free_port()
    if app.target:
        argv = [*prefix, *gunicorn_command(app, folder, port, environment)]
        description = f"gunicorn {app.target} ({app.workers} x {app.worker_class} workers)"
    else:
        assert app.command is not None
        argv = shlex.split(app.command.replace("{port}", str(port)))
        description = app.command.replace("{port}", str(port))
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "app.log"
    query_dir = (log_dir / "queries").resolve()
    side_variables = environment.variables() if environment else {}
    env = {**os.environ, **app.env, **side_variables}
    inapp_path = environment.inapp_path if environment else None
    extra_env = instrument_env(app, query_dir, env.get("PYTHONPATH", ""), inapp_path)
    env.update(extra_env)
    # Hold SIGINT/SIGTERM while the child is born, so an interrupt cannot land between its start
    # and the `try` below that guarantees its stop; the signal is delivered right after.
    held = _hold_signals()
    try:
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                argv,
                cwd=folder,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                # Only from the main thread: the parent-death signal fires when the *thread*
                # that started the app ends, which for another thread could be mid-run.
                preexec_fn=_in_child if held else None,
            )
    except BaseException as exc:
        _release_signals(held)
        if isinstance(exc, OSError):
            raise MeasurementError(
                f"cannot start the app: {argv[0]}: {exc.strerror}",
                "check app.command / app.target in the config",
            ) from None
        raise
    handle = App(
        f"http://127.0.0.1:{port}", description, log_path, process,
        query_dir if extra_env else None,
    )  # fmt: skip
    try:
        _release_signals(held)
        wait_ready(handle, app, port, poll_timeout_s)
        yield handle
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the whole process group: polite first, then SIGKILL, so no worker outlives us."""
    try:
        group = os.getpgid(process.pid)
    except ProcessLookupError:
        group = process.pid
    try:
        _signal_group(group, signal.SIGTERM)
        process.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        pass
    finally:
        # Always, even when a second Ctrl-C cuts the wait short: workers of a master that died
        # may linger in the group.
        _signal_group(group, signal.SIGKILL)
        process.wait()


_HELD = {signal.SIGINT, signal.SIGTERM}


def _hold_signals() -> bool:
    import threading

    if threading.current_thread() is not threading.main_thread():
        return False
    signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    return True


def _release_signals(held: bool) -> None:
    if held:
        _unblock_signals()


def _unblock_signals() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _HELD)


def _parent_death_signal() -> Callable[[], object] | None:
    """Linux's prctl(PR_SET_PDEATHSIG, SIGTERM), looked up before any fork."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, int(signal.SIGTERM), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG


_SET_PDEATHSIG = _parent_death_signal()


def _in_child() -> None:
    """Runs in the app's process between fork and exec."""
    # It inherits the mask that held SIGINT/SIGTERM across exec: clear it, or the app could
    # never be stopped with SIGTERM.
    _unblock_signals()
    # If perfgate dies without a chance to clean up (SIGKILL, OOM), the kernel sends the app
    # SIGTERM, so even then no app outlives perfgate.
    if _SET_PDEATHSIG is not None:
        _SET_PDEATHSIG()


def _signal_group(group: int, sig: signal.Signals) -> None:
    try:
        os.killpg(group, sig)
    except (ProcessLookupError, PermissionError):
        pass
