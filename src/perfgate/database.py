"""What perfgate saw of the app's database: query plans (with the index each lacks) and pool waits.

Part of the results schema (perfgate.results holds them in the files); filled in by the probe
pass (perfgate.run.inapp.plans) and the load phase (perfgate.run.inapp.pool).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PlanScan(_Frozen):
    """A plan line reading a whole table filtered on unindexed columns (run/inapp/plans.py)."""

    table: str
    columns: list[str]
    rows: int
    line: str
    create_index: str
    verified: bool | None = None  # tried on a scratch copy (SQLite); None: not tried
    verify_note: str | None = None
    plan_after: list[str] = Field(default_factory=list)
    ms_before: float | None = None  # the statement on the copy (median ms), without the index
    ms_after: float | None = None


class QueryPlan(_Frozen):
    """The database's own plan of one statement shape, through the app's connection."""

    shape: str
    database: str
    lines: list[str]
    scans: list[PlanScan] = Field(default_factory=list)
    error: str | None = None


class PoolStats(_Frozen):
    """SQLAlchemy pool checkouts in the load phase, all workers (run/inapp/pool.py)."""

    checkouts: int
    waits: int  # checkouts that found every connection in use
    wait_ms: float
    max_wait_ms: float
    timeouts: int
    capacity: int  # pool_size + max_overflow of one process (0 = unbounded)
    processes: int
