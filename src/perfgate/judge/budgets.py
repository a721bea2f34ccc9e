"""Absolute budgets: a measured figure against its limit in thresholds.yaml (no statistics)."""

from __future__ import annotations

from perfgate.config import Budget, Config
from perfgate.results import Check, EndpointProfile, LoadLevel, Phase


def _absolute(
    endpoint: str, phase: Phase, metric: str, current: float | None, limit: float | None, unit: str
) -> Check | None:
    if limit is None:
        return None
    if current is None:
        return Check(
            endpoint=endpoint,
            phase=phase,
            metric=metric,
            kind="absolute",
            status="fail",
            limit=limit,
            message="no successful response to measure",
        )
    over = current > limit
    return Check(
        endpoint=endpoint,
        phase=phase,
        metric=metric,
        kind="absolute",
        status="fail" if over else "pass",
        current=current,
        limit=limit,
        message=f"{current:.4g}{unit} {'>' if over else '<='} limit {limit:.4g}{unit}",
    )


def _at_least(endpoint: str, metric: str, current: float, limit: float | None) -> Check | None:
    if limit is None:
        return None
    under = current < limit
    return Check(
        endpoint=endpoint,
        phase="load",
        metric=metric,
        kind="absolute",
        status="fail" if under else "pass",
        current=current,
        limit=limit,
        message=f"{current:.4g} req/s {'<' if under else '>='} minimum {limit:.4g} req/s",
    )


def profile_budgets(profile: EndpointProfile, budget: Budget) -> list[Check]:
    s = profile.latency_ms
    name = profile.name
    candidates = [
        _absolute(name, "profile", "p50_ms", s.median if s else None, budget.p50_ms, " ms"),
        _absolute(name, "profile", "p95_ms", s.p95 if s else None, budget.p95_ms, " ms"),
        _absolute(name, "profile", "p99_ms", s.p99 if s else None, budget.p99_ms, " ms"),
        _absolute(name, "profile", "error_rate", profile.error_rate, budget.error_rate, ""),
    ]
    return [c for c in candidates if c is not None]


def load_budgets(config: Config, level: LoadLevel) -> list[Check]:
    default = config.budgets.for_level(level.concurrency)  # budgets.load over budgets.default
    label = f"all @ c={level.concurrency}"
    checks = [
        _absolute(label, "load", "error_rate", 1 - level.success_rate, default.error_rate, ""),
        _at_least(label, "rps", level.rps, default.min_rps),
    ]
    for share in level.endpoints:
        own = config.budgets.endpoints.get(share.name)
        if own is None:
            continue
        name = f"{share.name} @ c={level.concurrency}"
        rate = share.errors / share.requests if share.requests else 0.0
        if "error_rate" in own.model_fields_set:
            checks.append(_absolute(name, "load", "error_rate", rate, own.error_rate, ""))
        checks.append(_at_least(name, "rps", share.rps, own.min_rps))
    return [c for c in checks if c is not None]
