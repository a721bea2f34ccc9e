"""One measurement run: start the app, profile each endpoint, load-test each level, stop."""

from __future__ import annotations

from pathlib import Path

from perfgate.config import Config
from perfgate.load import run_load
from perfgate.profile import profile_endpoints
from perfgate.queries import apply, probe_endpoints
from perfgate.results import Environment, RunResult, ServerSettings, now_iso
from perfgate.server import gunicorn_version, running_app


def measure(config: Config, out_dir: Path) -> RunResult:
    """Measure the configured app; the app is stopped before this returns or raises."""
    with running_app(config.app, config.folder, out_dir) as app:
        profiles = profile_endpoints(app.base_url, config.endpoints, config.profile)
        probed = probe_endpoints(
            app.base_url, config.endpoints, app.query_dir, config.profile.timeout_s
        )
        profiles = apply(profiles, probed)
        levels = (
            run_load(app.base_url, config.endpoints, config.load) if config.load.enabled else []
        )
        description = app.description
    return RunResult(
        created_at=now_iso(),
        config_digest=config.digest,
        app=description,
        environment=Environment.capture(
            config.folder, gunicorn_version() if config.app.target else None
        ),
        endpoints=profiles,
        load=levels,
        server=server_settings(config),
        queries_note=probed.note or why_not_counted(config),
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
