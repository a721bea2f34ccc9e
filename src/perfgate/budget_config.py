"""The `budgets` section of thresholds.yaml: limits, tolerances, and how percentages are read.

Part of the config schema (perfgate.config re-exports these models); kept apart so that each
file stays readable.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator

from perfgate.endpoints import Strict as _Strict


def _percent(value: Any) -> Any:
    """'10%' -> 0.10; a bare fraction below 1 as it is. A bare 1 or more is refused: `1` reads
    as 1% to some and 100% to others, a budget silently off or wrong."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%\s*", value)
        if not match:
            raise ValueError("write a percentage such as '10%'")
        return float(match.group(1)) / 100
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 1:
        shown, hundred = f"{value:g}", f"{value * 100:g}"
        raise ValueError(f"a bare {shown} could mean {shown}% or {hundred}%: write '{shown}%' "
                         f"or '{hundred}%' (a bare fraction below 1, 0.1, is 10%)")  # fmt: skip
    return value


class Budget(_Strict):
    """Absolute limits and the tolerated change against the baseline. None = not checked."""

    p50_ms: float | None = Field(default=None, gt=0)
    p95_ms: float | None = Field(default=None, gt=0)
    p99_ms: float | None = Field(default=None, gt=0)
    error_rate: float | None = Field(default=None, ge=0, le=1)
    min_rps: float | None = Field(default=None, gt=0)
    regression: float | None = Field(default=None, gt=0, le=10)
    # Exact figures, no statistics: SQL statements per request and response bytes.
    max_queries: int | None = Field(default=None, ge=0)
    max_bytes: int | None = Field(default=None, ge=0)
    # Extra statements per request allowed over the baseline (0: must not grow; None: unchecked).
    query_growth: int | None = Field(default=0, ge=0)
    # Tolerated growth of the mean response size over the baseline (None: unchecked).
    bytes_growth: float | None = Field(default=None, ge=0, le=10)
    # Tolerated growth of instructions per request (callgrind) over the baseline (None: unchecked).
    instructions: float | None = Field(default=0.02, gt=0, le=10)

    _parse_regression = field_validator("regression", mode="before")(_percent)
    _parse_bytes_growth = field_validator("bytes_growth", mode="before")(_percent)
    _parse_error_rate = field_validator("error_rate", mode="before")(_percent)
    _parse_instructions = field_validator("instructions", mode="before")(_percent)

    def merged_over(self, base: Budget) -> Budget:
        mine = self.model_dump(exclude_unset=True)
        return base.model_copy(update=mine)


class LevelBudget(_Strict):
    """Budgets of the load phase: unset keys come from budgets.default."""

    regression: float | None = Field(default=None, gt=0, le=10)
    min_rps: float | None = Field(default=None, gt=0)
    error_rate: float | None = Field(default=None, ge=0, le=1)

    _parse_regression = field_validator("regression", mode="before")(_percent)
    _parse_error_rate = field_validator("error_rate", mode="before")(_percent)


class LoadBudget(LevelBudget):
    # Per concurrency level, over the keys above.
    levels: dict[int, LevelBudget] = Field(default_factory=dict)


class Budgets(_Strict):
    default: Budget = Field(default_factory=lambda: Budget(regression=0.10, error_rate=0.01))
    endpoints: dict[str, Budget] = Field(default_factory=dict)
    load: LoadBudget = Field(default_factory=LoadBudget)

    def for_endpoint(self, name: str) -> Budget:
        override = self.endpoints.get(name)
        return override.merged_over(self.default) if override else self.default

    def for_level(self, concurrency: int) -> Budget:
        """The budget of one load level: budgets.default, under budgets.load, under its level."""
        level = self.load.levels.get(concurrency, LevelBudget())
        mine = self.load.model_dump(exclude_unset=True, exclude={"levels"})
        return self.default.model_copy(update=mine | level.model_dump(exclude_unset=True))
