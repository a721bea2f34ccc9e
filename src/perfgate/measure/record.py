"""What one side of a measurement is (`Side`) and what it has gathered so far (`RunRecord`).

perfgate.measure.session fills a record phase by phase; whatever way the measurement ends, the
record builds that side's RunResult once, from what it holds (marked incomplete, with the reason
and the phase, when it broke).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from perfgate.config import AppConfig, Config
from perfgate.database import PoolStats
from perfgate.measure.neighbours import HostMeter
from perfgate.measure.probe import why_not_counted
from perfgate.results import (
    EndpointProfile,
    Environment,
    LoadLevel,
    RunResult,
    ServerSettings,
    now_iso,
)
from perfgate.run.environment import SideEnvironment, shared_environment


@dataclass(frozen=True)
class Side:
    """A tree to measure: its name in A/B ("base" or "head"; None in stored mode), its folder,
    and the app it runs there (the bench gives the head an app of its own)."""

    name: str | None
    folder: Path
    app: AppConfig

    def says(self, message: str) -> str:
        return f"{self.name} side: {message}" if self.name else message


class RunRecord:
    """What one side of a run has gathered so far, and the phase it is in."""

    def __init__(self, config: Config, side: Side) -> None:
        self.config = config
        self.side = side
        app = side.app
        self.description = app.target or app.command or app.url or "app"
        self.phase = "startup"
        self.profiles: list[EndpointProfile] = []
        self.levels: list[LoadLevel] = []
        self.queries_note: str | None = None
        self.instructions_note: str | None = None
        self.reference: EndpointProfile | None = None
        self.instances = 1
        self.pool: PoolStats | None = None
        self.reason: str | None = None
        self.environment: SideEnvironment = shared_environment()
        # What other processes did on the host per phase; A/B's two records share one meter.
        self.host = HostMeter(reached_by_url=app.url is not None)
        self._result: RunResult | None = None

    def fail(self, message: str) -> None:
        """Mark the run incomplete, saying in which phase (unless the message does)."""
        if self.reason is None:
            where = "" if self.phase in message else f" (during {self.phase})"
            self.reason = message + where

    def result(self) -> RunResult:
        """What was gathered, as a RunResult: built once, when first asked for."""
        if self._result is None:
            self._result = self._build()
        return self._result

    def _build(self) -> RunResult:
        config, app = self.config, self.side.app
        return RunResult(
            created_at=now_iso(),
            config_digest=config.digest,
            app=self.description,
            environment=Environment.capture(
                self.side.folder, self.environment.gunicorn if app.target else None
            ),
            endpoints=self.profiles,
            load=self.levels,
            server=server_settings(app),
            queries_note=self.queries_note or why_not_counted(app),
            instructions_note=self.instructions_note,
            complete=self.reason is None,
            incomplete_reason=self.reason,
            reference=self.reference,
            instances=self.instances,
            pool=self.pool,
            host_load=self.host.result(),
        )


def server_settings(app: AppConfig) -> ServerSettings | None:
    if not app.target:
        return None
    return ServerSettings(workers=app.workers, worker_class=app.worker_class, threads=app.threads)
