"""Instructions per request: a check that needs no baseline history, and what it corroborates.

Callgrind's count of the instructions a request executes (perfgate.measure.instructions) moves
by a few tenths of a percent between fresh processes of the same code (memory layout, what the
allocator was left with), against several percent for wall time. So one stored run is enough to
compare against, and the rule can be the plain one, without a multiple-testing adjustment:

- fail when the whole interval is beyond the tolerance, pass when it is all within it,
  inconclusive otherwise (a change within a few tenths of a percent of the tolerance);
- the interval: the batches' spread on both sides (log scale) plus `compare.instructions_floor`
  for what one process's batches cannot show; a 90% interval when alpha is 0.05 (one-sided 5%).

Such a check is not in the Holm family: with the floor at 0.5% and the default tolerance at 2%,
an unchanged endpoint would need a 4-sigma excursion to fail (docs/how-the-gate-decides.md).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from perfgate.config import Budget, Config
from perfgate.results import Check, EndpointInstructions, EndpointProfile, RunResult


def instruction_check(
    config: Config,
    profile: EndpointProfile,
    budget: Budget,
    history: Sequence[RunResult],
    note: str | None,
) -> list[Check]:
    """The instructions check of one endpoint against the newest baseline run that counted
    them (the code the change is measured against; in A/B, the base side)."""
    tolerance = budget.instructions
    if tolerance is None or not history:
        return []
    base = _newest(profile.name, history)
    now = profile.instructions
    if now is None and base is None:
        return []  # counted on neither side (no valgrind, switched off): nothing to say
    if now is None or base is None:
        why = (note or "not counted") if now is None else "the baseline has no instruction count"
        return [_check(profile.name, "skipped", tolerance, f"not compared: {why}")]
    d = math.log(now.mean / base.mean)
    se = math.sqrt(_var(now) + _var(base) + config.compare.instructions_floor**2)
    z = statistics.NormalDist().inv_cdf(1 - config.compare.alpha)
    low, high = math.expm1(d - z * se), math.expm1(d + z * se)
    change = math.expm1(d)
    if low > tolerance:
        status, why = "fail", f"beyond the {tolerance:.0%} tolerance, the whole interval"
    elif high <= tolerance:
        status, why = "pass", f"the interval stays within the {tolerance:.0%} tolerance"
    else:
        status, why = "inconclusive", f"the interval straddles the {tolerance:.0%} tolerance"
    message = (
        f"{_millions(now.mean)} instructions per request vs {_millions(base.mean)} "
        f"({change:+.1%}, interval {low:+.1%} to {high:+.1%}): {why} (callgrind count)"
    )
    return [
        _check(profile.name, status, tolerance, message).model_copy(
            update={
                "current": now.mean,
                "baseline": base.mean,
                "change": change,
                "ci_low": low,
                "ci_high": high,
            }
        )  # fmt: skip
    ]


def _check(endpoint: str, status: str, tolerance: float, message: str) -> Check:
    return Check.model_validate(
        {
            "endpoint": endpoint,
            "phase": "profile",
            "metric": "instructions",
            "kind": "relative",
            "status": status,
            "limit": tolerance,
            "message": message,
        }  # fmt: skip
    )


def _newest(name: str, history: Sequence[RunResult]) -> EndpointInstructions | None:
    for run in reversed(history):
        for profile in run.endpoints:
            if profile.name == name and profile.instructions is not None:
                return profile.instructions
    return None


def _var(counted: EndpointInstructions) -> float:
    """Variance of the mean of the batches' log figures."""
    logs = [math.log(v) for v in counted.per_request if v > 0]
    if len(logs) < 2:
        return 0.0
    return statistics.variance(logs) / len(logs)


def _millions(value: float) -> str:
    return f"{value / 1e6:.3f} M" if value >= 1e5 else f"{value:,.0f}"


def corroborate(checks: list[Check]) -> tuple[list[Check], list[str]]:
    """Say, on every failed wall-time check, whether the exact figures of that endpoint moved
    too; and note the instruction failures that wall time did not show."""
    by_endpoint: dict[str, dict[str, Check]] = {}
    for check in checks:
        if check.kind == "relative" and check.phase == "profile":
            by_endpoint.setdefault(check.endpoint, {})[check.metric] = check
    out = []
    for check in checks:
        timed = check.metric in ("median", "p95") and check.kind == "relative"
        if check.status == "fail" and timed and check.phase == "profile":
            evidence = _evidence(by_endpoint.get(check.endpoint, {}))
            check = check.model_copy(update={"message": f"{check.message}; {evidence}"})
        out.append(check)
    notes = []
    for endpoint, metrics in by_endpoint.items():
        counted = metrics.get("instructions")
        slower = any(metrics[m].status == "fail" for m in ("median", "p95") if m in metrics)
        if counted is not None and counted.status == "fail" and not slower:
            notes.append(
                f"{endpoint}: instructions per request {_pct(counted.change)} while its wall "
                "time did not fail: a real CPU cost that the timing noise hides at this size."
            )
    return out, notes


def _evidence(metrics: dict[str, Check]) -> str:
    counted = metrics.get("instructions")
    statements = metrics.get("queries_per_request")
    parts = []
    cpu_moved = counted is not None and counted.status in ("fail", "inconclusive")
    queries_moved = statements is not None and statements.status == "fail"
    if counted is not None and counted.change is not None:
        parts.append(f"instructions per request {_pct(counted.change)} ({counted.status})")
    if statements is not None and statements.current is not None:
        base = statements.baseline
        if base is not None and base != statements.current:
            parts.append(f"SQL statements {base:.0f} -> {statements.current:.0f}")
        elif base is not None:
            parts.append(f"SQL statements unchanged ({base:.0f})")
    if not parts:
        return "no exact figure to corroborate it (instructions and statements not counted)"
    if counted is not None and counted.status == "pass" and not queries_moved:
        return ", ".join(parts) + ": no CPU or query change found: I/O, locking, or the host"
    if not cpu_moved and not queries_moved:
        return ", ".join(parts)
    return ", ".join(parts) + ": the code does more work"


def _pct(value: float | None) -> str:
    return "?" if value is None else f"{value:+.1%}"
