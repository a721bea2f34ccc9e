"""One measurement run: start the app, profile each endpoint, load-test each level, stop."""

from __future__ import annotations

from pathlib import Path

from perfgate.config import Config
from perfgate.load import run_load
from perfgate.profile import profile_endpoints
from perfgate.results import Environment, RunResult, now_iso
from perfgate.server import gunicorn_version, running_app


def measure(config: Config, out_dir: Path) -> RunResult:
    """Measure the configured app; the app is stopped before this returns or raises."""
    with running_app(config.app, config.folder, out_dir) as app:
        profiles = profile_endpoints(app.base_url, config.endpoints, config.profile)
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
    )
