"""Exact checks: SQL statements per request and response bytes, no statistics involved.

A request of an unchanged endpoint runs the same statements and returns the same bytes every
time, so these figures are compared as they are: over a budget (`max_queries`, `max_bytes`) or
grown past the baseline (`query_growth` statements, `bytes_growth` fraction) is a failure with
no chance of a false alarm from a noisy machine.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from perfgate.config import Budget
from perfgate.results import Check, EndpointProfile, RunResult


def exact_checks(
    profile: EndpointProfile, budget: Budget, history: Sequence[RunResult], queries_note: str | None
) -> list[Check]:
    """Every exact check the budget asks for on this endpoint."""
    checks: list[Check] = []
    counted = profile.queries_per_request
    why_not = queries_note or "statements were not counted"
    if budget.max_queries is not None:
        checks.append(
            _over(profile.name, "queries_per_request", counted, budget.max_queries, why_not)
        )
    if budget.max_bytes is not None:
        ok = profile.latency_ms is not None
        size = profile.bytes_mean if ok else None
        checks.append(
            _over(profile.name, "bytes", size, budget.max_bytes, "no successful response")
        )
    if not history:
        return checks
    previous = [next((p for p in r.endpoints if p.name == profile.name), None) for r in history]
    found = [p for p in previous if p is not None]
    base_counts = [p.queries_per_request for p in found if p.queries_per_request is not None]
    # Neither side counted (no SQLAlchemy, app.url): nothing to say, so no check at all.
    if budget.query_growth is not None and (counted is not None or base_counts):
        # The newest baseline run that counted: the code the change is measured against.
        base = base_counts[-1] if base_counts else None
        checks.append(_growth_in_queries(profile.name, counted, base, budget.query_growth, why_not))
    if budget.bytes_growth is not None:
        sizes = [p.bytes_mean for p in found if p.latency_ms is not None]
        current = profile.bytes_mean if profile.latency_ms is not None else None
        base_size = statistics.median(sizes) if sizes else None
        checks.append(_growth_in_bytes(profile.name, current, base_size, budget.bytes_growth))
    return checks


def _over(endpoint: str, metric: str, current: float | None, limit: int, why_not: str) -> Check:
    unit = " statements" if metric == "queries_per_request" else " bytes"
    if current is None:
        return Check(
            endpoint=endpoint, phase="profile", metric=metric, kind="absolute", status="skipped",
            limit=limit, message=f"not measured: {why_not}",
        )  # fmt: skip
    over = current > limit
    return Check(
        endpoint=endpoint, phase="profile", metric=metric, kind="absolute",
        status="fail" if over else "pass", current=current, limit=limit,
        message=f"{current:.0f}{unit} {'>' if over else '<='} limit {limit}{unit} (exact)",
    )  # fmt: skip


def _growth_in_queries(
    endpoint: str, current: float | None, base: float | None, allowed: int, why_not: str
) -> Check:
    metric = "queries_per_request"
    if current is None or base is None:
        why = why_not if current is None else "the baseline has no statement count"
        return Check(
            endpoint=endpoint, phase="profile", metric=metric, kind="relative", status="skipped",
            current=current, baseline=base, limit=allowed, message=f"not compared: {why}",
        )  # fmt: skip
    grown = current > base + allowed
    change = current / base - 1 if base else (0.0 if current == 0 else None)
    verb = "more than" if grown else "within"
    return Check(
        endpoint=endpoint, phase="profile", metric=metric, kind="relative",
        status="fail" if grown else "pass", current=current, baseline=base, limit=allowed,
        change=change,
        message=f"{current:.0f} statements per request vs {base:.0f} in the baseline: "
        f"{verb} the allowed growth of {allowed} (exact count)",
    )  # fmt: skip


def _growth_in_bytes(
    endpoint: str, current: float | None, base: float | None, tolerance: float
) -> Check:
    if current is None or base is None:
        why = "no successful response" if current is None else "not in the baseline"
        return Check(
            endpoint=endpoint, phase="profile", metric="bytes", kind="relative", status="skipped",
            current=current, baseline=base, limit=tolerance, message=f"not compared: {why}",
        )  # fmt: skip
    change = current / base - 1 if base else (0.0 if current == 0 else float("inf"))
    grown = change > tolerance
    return Check(
        endpoint=endpoint, phase="profile", metric="bytes", kind="relative",
        status="fail" if grown else "pass", current=current, baseline=base, limit=tolerance,
        change=change if change != float("inf") else None,
        message=f"{current:.0f} bytes vs {base:.0f} in the baseline ({change:+.1%}); "
        f"{'beyond' if grown else 'within'} the {tolerance:.0%} tolerance (exact size)",
    )  # fmt: skip
