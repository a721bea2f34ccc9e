"""What else the host was doing while perfgate measured: the schema of the busy-machine check.

perfgate.measure.neighbours fills these in, one `PhaseLoad` per measured phase;
perfgate.judge.neighbours turns a failing relative check whose phase overlapped significant
outside load into an inconclusive one; the report shows the figures.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PhaseLoad(_Frozen):
    """The host during one measured phase. `outside_cores`: CPU seconds used by processes that
    are neither perfgate (with everything it started: the app, its workers, the load generator)
    nor the app, per wall second of the phase; 1.0 = one whole core busy with other work.
    `steal_share`: the share of the host's CPU time its hypervisor gave to other guests."""

    phase: Literal["profile", "load"]
    concurrency: int | None = None  # the load level, for a load phase
    wall_s: float
    outside_cores: float
    steal_share: float

    @property
    def label(self) -> str:
        return f"load c={self.concurrency}" if self.phase == "load" else self.phase


class HostLoad(_Frozen):
    """Every measured phase of a run, and why there are none when there are none (no /proc)."""

    phases: list[PhaseLoad] = Field(default_factory=list)
    note: str | None = None
