"""Per-endpoint detail of the results schema: deterministic evidence (instructions per request
under callgrind, Python calls per request, what grew in a regressed endpoint) and the figures of
each `params` value.

perfgate.results holds these in the files; perfgate.measure.instructions and the probe pass fill
them in, perfgate.judge.whatchanged compares them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FunctionCost(_Frozen):
    """A C-level function's inclusive instructions per request, from callgrind's counts, and
    the file it is in (the interpreter, libc, an extension module such as _json or _sqlite3)."""

    name: str
    instructions: float
    object: str = ""


class EndpointInstructions(_Frozen):
    """Instructions per request of one endpoint, counted under callgrind
    (perfgate.measure.instructions): one figure per batch of untimed requests."""

    per_request: list[float]
    requests_per_batch: int
    # The functions with the largest inclusive costs, per request (all batches together).
    functions: list[FunctionCost] = Field(default_factory=list)

    @property
    def mean(self) -> float:
        return sum(self.per_request) / len(self.per_request)


class CallCount(_Frozen):
    """Python calls per request: one of the app's functions (`app`), or a library package."""

    name: str
    calls: float
    app: bool


class Growth(_Frozen):
    """One figure that grew between base and head, per request: a Python function's calls, a
    library's calls, a C function's inclusive instructions, or an SQL statement's count."""

    kind: Literal["calls", "library calls", "instructions", "statements"]
    name: str
    base: float
    head: float


class EndpointChanges(_Frozen):
    """Where a regressed endpoint's work went (perfgate.judge.whatchanged)."""

    endpoint: str
    growth: list[Growth]


class ParamFigures(_Frozen):
    """One `params` value's share of an endpoint's sequential profile."""

    value: str  # the value(s) sent, e.g. "id=3"
    requests: int
    median_ms: float | None  # None when none of its requests succeeded
    p95_ms: float | None
    error_rate: float
