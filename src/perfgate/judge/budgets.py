"""Absolute budgets: a measured figure against its limit in thresholds.yaml (no statistics)."""

from __future__ import annotations

from perfgate.config import Budget, Config
from perfgate.results import Check, EndpointProfile, LoadLevel, Phase


def _plain(value: float) -> str:
    """No scientific notation in a message: 17503 req/s, 12.3 ms."""
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _rate(value: float) -> str:
    return f"{value * 100:.3g}%"  # as the config writes a rate: 1%


def _failed_statuses(codes: dict[str, int], errors: dict[str, int]) -> str:
    """What the failed requests answered, most frequent first: `404 x 12, timeout x 1`."""
    failed = {k: v for k, v in codes.items() if not k.startswith(("2", "3"))}
    failed |= {k: v for k, v in errors.items() if k != "unexpected_status"}
    shown = ", ".join(f"{k} x {v}" for k, v in sorted(failed.items(), key=lambda kv: -kv[1]))
    return f" ({shown})" if shown else ""


def _error_rate(
    endpoint: str, phase: Phase, rate: float, limit: float | None, codes: dict[str, int],
    errors: dict[str, int],
) -> Check | None:  # fmt: skip
    if limit is None:
        return None
    over = rate > limit
    return Check(
        endpoint=endpoint, phase=phase, metric="error_rate", kind="absolute",
        status="fail" if over else "pass", current=rate, limit=limit,
        message=f"{_rate(rate)} of requests failed{_failed_statuses(codes, errors)} "
        f"{'>' if over else '<='} limit {_rate(limit)}",
    )  # fmt: skip


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
        message=f"{_plain(current)}{unit} {'>' if over else '<='} limit {_plain(limit)}{unit}",
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
        message=f"{_plain(current)} req/s {'<' if under else '>='} minimum {_plain(limit)} req/s",
    )


def profile_budgets(profile: EndpointProfile, budget: Budget) -> list[Check]:
    s = profile.latency_ms
    name = profile.name
    candidates = [
        _absolute(name, "profile", "p50_ms", s.median if s else None, budget.p50_ms, " ms"),
        _absolute(name, "profile", "p95_ms", s.p95 if s else None, budget.p95_ms, " ms"),
        _absolute(name, "profile", "p99_ms", s.p99 if s else None, budget.p99_ms, " ms"),
        _error_rate(
            name,
            "profile",
            profile.error_rate,
            budget.error_rate,
            profile.status_codes,
            profile.errors,
        ),  # fmt: skip
    ]
    return [c for c in candidates if c is not None]


def load_budgets(config: Config, level: LoadLevel) -> list[Check]:
    default = config.budgets.for_level(level.concurrency)  # budgets.load over budgets.default
    label = f"all @ c={level.concurrency}"
    checks = [
        _error_rate(
            label,
            "load",
            1 - level.success_rate,
            default.error_rate,
            level.status_codes,
            level.errors,
        ),  # fmt: skip
        _at_least(label, "rps", level.rps, default.min_rps),
    ]
    for share in level.endpoints:
        own = config.budgets.endpoints.get(share.name)
        if own is None:
            continue
        name = f"{share.name} @ c={level.concurrency}"
        rate = share.errors / share.requests if share.requests else 0.0
        if "error_rate" in own.model_fields_set:
            checks.append(_error_rate(name, "load", rate, own.error_rate, {}, {}))
        checks.append(_at_least(name, "rps", share.rps, own.min_rps))
    return [c for c in checks if c is not None]
