"""One measurement run: start the app, profile each endpoint, load-test each level, stop.

What was measured survives a failure: when the app dies, an endpoint cannot be measured or a
signal arrives, the error leaves with `partial`, a RunResult marked incomplete holding every
phase finished so far, and the CLI writes it out before exiting.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from perfgate.config import Config
from perfgate.errors import Interrupted, MeasurementError, Terminated
from perfgate.load import run_level
from perfgate.profile import profile_endpoints
from perfgate.queries import apply, probe_endpoints
from perfgate.reference import REFERENCE_APP
from perfgate.results import (
    EndpointProfile,
    Environment,
    LoadLevel,
    RunResult,
    ServerSettings,
    now_iso,
)
from perfgate.server import App, begin_stopping, check_target, gunicorn_version, running_app

Progress = Callable[[str], None]


def _quiet(message: str) -> None:
    pass


class _Run:
    """What one run has gathered so far, and the phase it is in."""

    def __init__(self, config: Config) -> None:
        self.config = config
        app = config.app
        self.description = app.target or app.command or app.url or "app"
        self.phase = "startup"
        self.profiles: list[EndpointProfile] = []
        self.levels: list[LoadLevel] = []
        self.queries_note: str | None = None
        self.reference: EndpointProfile | None = None

    def result(self, reason: str | None = None) -> RunResult:
        config = self.config
        return RunResult(
            created_at=now_iso(),
            config_digest=config.digest,
            app=self.description,
            environment=Environment.capture(
                config.folder, gunicorn_version() if config.app.target else None
            ),
            endpoints=self.profiles,
            load=self.levels,
            server=server_settings(config),
            queries_note=self.queries_note or why_not_counted(config),
            complete=reason is None,
            incomplete_reason=reason,
            reference=self.reference,
        )


def measure(config: Config, out_dir: Path, progress: Progress = _quiet) -> RunResult:
    """Measure the configured app; the app is stopped before this returns or raises.

    Raises MeasurementError or Interrupted with `partial` set to the incomplete run.
    """
    run = _Run(config)
    if config.app.target:
        check_target(config.app, config.folder, config.source)
    try:
        progress(f"starting the app ({run.description})")
        with ExitStack() as stack:
            app = stack.enter_context(running_app(config.app, config.folder, out_dir))
            run.description = app.description
            reference_url = None
            if config.compare.reference:
                reference_dir = out_dir / "reference"
                reference = running_app(REFERENCE_APP, out_dir, reference_dir)
                reference_app = stack.enter_context(reference)
                reference_url = reference_app.base_url
                stack.callback(begin_stopping, [app, reference_app])
            _phases(config, app, run, progress, reference_url)
            deaths = app.worker_deaths()
    except (MeasurementError, Interrupted) as exc:
        where = "" if run.phase in exc.message else f" (during {run.phase})"
        exc.partial = run.result(exc.message + where)
        raise
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, Terminated)
        what = "stopped by SIGTERM" if terminated else "interrupted by SIGINT"
        error = Interrupted(what, terminated=terminated)
        error.partial = run.result(f"{what} (during {run.phase})")
        raise error from None
    if deaths:
        # The run finished, but a crashed worker means its figures are not those of a healthy app.
        more = f" and {len(deaths) - 1} more" if len(deaths) > 1 else ""
        return run.result(f"an app worker died during the run: {deaths[0]}{more}")
    return run.result()


def _phases(
    config: Config, app: App, run: _Run, progress: Progress, reference_url: str | None
) -> None:
    run.phase = "profile"
    progress(f"profiling {len(config.endpoints)} endpoint(s)")
    profiles = profile_endpoints(
        app.base_url, config.endpoints, config.profile, collected=run.profiles,
        reference_url=reference_url,
    )  # fmt: skip
    if reference_url:
        run.reference = profiles.pop()
    run.profiles = profiles
    _still_running(app, run.phase)
    run.phase = "query count"
    timeout = config.profile.timeout_s
    probed = probe_endpoints(app.base_url, config.endpoints, app.query_dir, timeout)
    run.profiles = apply(run.profiles, probed)
    run.queries_note = probed.note
    _still_running(app, run.phase)
    if not config.load.enabled:
        return
    for concurrency in config.load.concurrency:
        run.phase = f"load at {concurrency} connections"
        progress(f"load test at {concurrency} connections")
        run.levels.append(run_level(app.base_url, config.endpoints, config.load, concurrency))
        _still_running(app, run.phase)


def _still_running(app: App, phase: str) -> None:
    if app.exited():
        code = app.process.returncode if app.process else None
        raise MeasurementError(
            f"the app exited with code {code} during the {phase} ({app.description})",
            "read the app log below",
            log_tail=app.log_tail(),
        )


def server_settings(config: Config) -> ServerSettings | None:
    app = config.app
    if not app.target:
        return None
    return ServerSettings(workers=app.workers, worker_class=app.worker_class, threads=app.threads)


def why_not_counted(config: Config) -> str | None:
    if not config.app.target:
        return "SQL statements are counted only when perfgate runs the app itself (app.target)"
    if not config.app.count_queries:
        return "SQL statement counting is switched off (app.count_queries: false)"
    if not config.app.wrapped_for_queries:
        return (
            f"SQL statements are counted for WSGI worker classes only, not "
            f"{config.app.worker_class!r}"
        )
    return None
