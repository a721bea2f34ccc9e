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
from perfgate.loadgen.engine import run_level
from perfgate.measure.probe import apply, probe_endpoints
from perfgate.measure.profile import profile_endpoints
from perfgate.results import (
    EndpointProfile,
    Environment,
    LoadLevel,
    RunResult,
    ServerSettings,
    now_iso,
)
from perfgate.run.inapp.instrument import REFERENCE_PATH
from perfgate.run.inapp.reference import OWN_APP_PATH, REFERENCE_APP
from perfgate.run.server import (
    App,
    begin_stopping,
    check_target,
    gunicorn_version,
    nth_instance,
    running_app,
)

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
        self.instances = 1

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
            instances=self.instances,
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
            apps, reference_urls = _start_instances(stack, config, out_dir)
            run.description = apps[0].description
            run.instances = len(apps)
            _phases(config, apps, run, progress, reference_urls)
            deaths = [death for app in apps for death in app.worker_deaths()]
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


def _start_instances(
    stack: ExitStack, config: Config, out_dir: Path
) -> tuple[list[App], list[str]]:
    """Start `compare.run_instances` instances of the app (one when it is reached by URL), and
    say where the reference workload answers beside each (none when `compare.reference` is off).

    Where perfgate wraps the app, its own workers answer the reference (perfgate.instrument);
    otherwise each instance is followed by a reference app of its own. The first instance logs
    to `out_dir`, the others to `instance-2/`, ...; reference apps to `reference/`, ...."""
    count = 1 if config.app.url else config.compare.run_instances
    in_process = config.app.wrapped_for_queries
    apps: list[App] = []
    references: list[App] = []
    reference_urls: list[str] = []
    for j in range(count):
        suffix = "" if j == 0 else f"-{j + 1}"
        log_dir = out_dir if j == 0 else out_dir / f"instance{suffix}"
        app = stack.enter_context(running_app(nth_instance(config.app, j), config.folder, log_dir))
        apps.append(app)
        if not config.compare.reference:
            continue
        if in_process:
            reference_urls.append(app.base_url + REFERENCE_PATH)
            continue
        reference_app = running_app(
            nth_instance(REFERENCE_APP, j), out_dir, out_dir / f"reference{suffix}"
        )
        references.append(stack.enter_context(reference_app))
        reference_urls.append(references[-1].base_url + OWN_APP_PATH)
    # Unwound first: every process is told to stop at once, then each is waited for.
    stack.callback(begin_stopping, apps + references)
    return apps, reference_urls


def _phases(
    config: Config, apps: list[App], run: _Run, progress: Progress, reference_urls: list[str]
) -> None:
    run.phase = "profile"
    progress(f"profiling {len(config.endpoints)} endpoint(s) on {len(apps)} app instance(s)")
    profiles = profile_endpoints(
        [app.base_url for app in apps], config.endpoints, config.profile, collected=run.profiles,
        reference_urls=reference_urls,
    )  # fmt: skip
    if reference_urls:
        run.reference = profiles.pop()
    run.profiles = profiles
    _still_running(apps, run.phase)
    # Statement counts and load: the first instance stands for the app (counts are exact, and
    # one load at a time is all the machine can serve).
    app = apps[0]
    run.phase = "query count"
    timeout = config.profile.timeout_s
    probed = probe_endpoints(app.base_url, config.endpoints, app.query_dir, timeout)
    run.profiles = apply(run.profiles, probed)
    run.queries_note = probed.note
    _still_running(apps, run.phase)
    if not config.load.enabled:
        return
    for concurrency in config.load.concurrency:
        run.phase = f"load at {concurrency} connections"
        progress(f"load test at {concurrency} connections")
        run.levels.append(run_level(app.base_url, config.endpoints, config.load, concurrency))
        _still_running(apps, run.phase)


def _still_running(apps: list[App], phase: str) -> None:
    for app in apps:
        if not app.exited():
            continue
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
