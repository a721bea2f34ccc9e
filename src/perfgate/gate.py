"""Judge a run: absolute budgets, and the change against the baseline runs.

The decision rule (README, "How the gate decides"):
- absolute budget: fail when the measured figure is over its limit, else pass;
- relative check: estimate the change from trial-level figures (stats.compare_trials), adjust the
  p-values of all relative checks together (Holm); fail only when the change is significant after
  adjustment AND its estimate is beyond the tolerance; pass when the whole interval is within the
  tolerance; otherwise inconclusive;
- the verdict is fail if any check fails, else inconclusive if any is inconclusive, else pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from perfgate.config import Budget, Config
from perfgate.exact import exact_checks
from perfgate.results import (
    BaselineFile,
    Check,
    EndpointProfile,
    LoadLevel,
    Phase,
    RunResult,
    VerdictName,
)
from perfgate.stats import compare_trials, holm


@dataclass(frozen=True)
class Verdict:
    verdict: VerdictName
    checks: list[Check]
    notes: list[str]
    baseline_runs: int


@dataclass(frozen=True)
class _Pending:
    """A relative check before the Holm adjustment decides it."""

    check: Check
    tolerance: float
    higher_is_worse: bool


def judge(config: Config, run: RunResult, baseline: BaselineFile | None) -> Verdict:
    checks: list[Check] = []
    pending: list[_Pending] = []
    history = baseline.runs if baseline else []
    notes = _notes(config, run, history)

    for profile in run.endpoints:
        budget = config.budgets.for_endpoint(profile.name)
        checks += _profile_budgets(profile, budget)
        checks += exact_checks(profile, budget, history, run.queries_note)
        pending += _profile_changes(config, profile, budget, history)
    for level in run.load:
        checks += _load_budgets(config, level)
        pending += _load_changes(config, level, history)

    adjusted = holm([p.check.p_value or 1.0 for p in pending])
    checks += [_decide(p, q, config.compare.alpha) for p, q in zip(pending, adjusted, strict=True)]

    statuses = {c.status for c in checks}
    verdict: VerdictName = "pass"
    if "fail" in statuses or not run.complete:
        verdict = "fail"
    elif "inconclusive" in statuses:
        verdict = "inconclusive"
    return Verdict(verdict, checks, notes, len(history))


def _notes(config: Config, run: RunResult, history: Sequence[RunResult]) -> list[str]:
    notes = []
    if not run.complete:
        notes.append(f"The run is incomplete: {run.incomplete_reason}.")
    if not history:
        notes.append(
            "No baseline: only absolute budgets were judged. Record one with `perfgate baseline`."
        )
        return notes
    if any(r.config_digest != run.config_digest for r in history):
        notes.append("The baseline was recorded with a different thresholds.yaml.")
    env = run.environment
    others = {(r.environment.cpus, r.environment.python) for r in history}
    if others != {(env.cpus, env.python)}:
        notes.append(
            "The baseline was recorded on another machine kind (CPUs or Python differ); "
            "changes against it include that difference."
        )
    if len(history) < 3:
        notes.append(
            f"The baseline holds {len(history)} run(s): the run-to-run spread is assumed "
            f"({config.compare.noise_floor:.0%}), not measured; record 3 or more to measure it."
        )
    return notes


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


def _profile_budgets(profile: EndpointProfile, budget: Budget) -> list[Check]:
    s = profile.latency_ms
    name = profile.name
    candidates = [
        _absolute(name, "profile", "p50_ms", s.median if s else None, budget.p50_ms, " ms"),
        _absolute(name, "profile", "p95_ms", s.p95 if s else None, budget.p95_ms, " ms"),
        _absolute(name, "profile", "p99_ms", s.p99 if s else None, budget.p99_ms, " ms"),
        _absolute(name, "profile", "error_rate", profile.error_rate, budget.error_rate, ""),
    ]
    return [c for c in candidates if c is not None]


def _load_budgets(config: Config, level: LoadLevel) -> list[Check]:
    default = config.budgets.default
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


def _relative(
    config: Config,
    endpoint: str,
    phase: Phase,
    metric: str,
    tolerance: float | None,
    current: list[float],
    baseline_runs: list[list[float]],
    higher_is_worse: bool,
) -> list[_Pending]:
    if tolerance is None:
        return []
    if not current or not any(baseline_runs):
        skipped = Check(
            endpoint=endpoint,
            phase=phase,
            metric=metric,
            kind="relative",
            status="skipped",
            limit=tolerance,
            message="not in the baseline" if current else "no measurement",
        )
        return [_Pending(skipped, tolerance, higher_is_worse)]
    estimate = compare_trials(
        baseline_runs,
        current,
        higher_is_worse=higher_is_worse,
        alpha=config.compare.alpha,
        noise_floor=config.compare.noise_floor,
    )
    base_value = sum(sum(r) / len(r) for r in baseline_runs if r) / sum(
        1 for r in baseline_runs if r
    )
    check = Check(
        endpoint=endpoint,
        phase=phase,
        metric=metric,
        kind="relative",
        status="inconclusive",
        current=sum(current) / len(current),
        baseline=base_value,
        limit=tolerance,
        change=estimate.ratio - 1,
        ci_low=estimate.low - 1,
        ci_high=estimate.high - 1,
        p_value=estimate.p_worse,
    )
    return [_Pending(check, tolerance, higher_is_worse)]


def _profile_changes(
    config: Config, profile: EndpointProfile, budget: Budget, history: Sequence[RunResult]
) -> list[_Pending]:
    if not history:
        return []
    matches = [next((p for p in r.endpoints if p.name == profile.name), None) for r in history]
    medians = [m.trial_medians_ms for m in matches if m]
    p95s = [m.trial_p95_ms for m in matches if m]
    tol = budget.regression
    return [
        *_relative(
            config, profile.name, "profile", "median", tol, profile.trial_medians_ms, medians, True
        ),
        *_relative(config, profile.name, "profile", "p95", tol, profile.trial_p95_ms, p95s, True),
    ]


def _load_changes(config: Config, level: LoadLevel, history: Sequence[RunResult]) -> list[_Pending]:
    if not history:
        return []
    matches = [
        next((lv for lv in r.load if lv.concurrency == level.concurrency), None) for r in history
    ]
    label = f"all @ c={level.concurrency}"
    tol = config.budgets.default.regression
    windows = [_positive(m.window_rps) for m in matches if m]
    return _relative(config, label, "load", "rps", tol, _positive(level.window_rps), windows, False)


def _positive(window_rps: list[float]) -> list[float]:
    """A second with no completed request (a stall) is real, but has no logarithm: count it as
    half a request, the usual continuity correction for counts."""
    return [max(v, 0.5) for v in window_rps]


def _decide(pending: _Pending, adjusted_p: float, alpha: float) -> Check:
    check = pending.check
    if check.status == "skipped" or check.change is None:
        return check
    assert check.ci_low is not None and check.ci_high is not None
    tol = pending.tolerance
    if pending.higher_is_worse:
        beyond, within = check.change > tol, check.ci_high < tol
    else:
        beyond, within = check.change < -tol, check.ci_low > -tol
    significant = adjusted_p < alpha
    if significant and beyond:
        status, why = (
            "fail",
            f"worse than the {tol:.0%} tolerance, significant (Holm p={adjusted_p:.2g})",
        )
    elif within:
        status, why = "pass", f"the interval stays within the {tol:.0%} tolerance"
    else:
        status, why = (
            "inconclusive",
            f"the interval reaches past the {tol:.0%} tolerance; not significant enough to fail",
        )
    return check.model_copy(update={"status": status, "p_value": adjusted_p, "message": why})
