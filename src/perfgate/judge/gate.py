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

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from statistics import geometric_mean

from perfgate.config import Budget, Config
from perfgate.judge.exact import exact_checks
from perfgate.judge.relative import Pending, decide, relative
from perfgate.judge.stats import holm
from perfgate.results import (
    BaselineFile,
    Check,
    EndpointProfile,
    LoadLevel,
    Phase,
    RunResult,
    VerdictName,
)


@dataclass(frozen=True)
class Verdict:
    verdict: VerdictName
    checks: list[Check]
    notes: list[str]
    baseline_runs: int


def judge(
    config: Config,
    run: RunResult,
    baseline: BaselineFile | None,
    base_run: RunResult | None = None,
    confirmation: RunResult | None = None,
) -> Verdict:
    """Judge `run`: against the stored `baseline` history, or, in same-run A/B mode, against
    `base_run` measured side by side with it (then the baseline file is not used).

    `confirmation` (stored mode) is a second measurement of the endpoints that failed a profile
    change (perfgate.confirm): such a change fails only if it fails there too."""
    checks: list[Check] = []
    pending: list[Pending] = []
    history = [base_run] if base_run else (baseline.runs if baseline else [])
    paired = base_run is not None
    notes = _ab_notes(run, base_run) if base_run else _notes(config, run, history)
    host = None if paired else host_speed(run, history)
    if host:
        notes.append(host.note())
    elif run.reference and history and not paired:
        notes.append(
            "Some baseline runs did not measure perfgate's reference workload the way this run "
            "did, so profile changes are compared undivided (the host's speed is not factored "
            "out); record new baseline runs with `perfgate baseline`."
        )

    slopes: dict[str, float] = {}
    for profile in run.endpoints:
        budget = config.budgets.for_endpoint(profile.name)
        checks += _profile_budgets(profile, budget)
        checks += exact_checks(profile, budget, history, run.queries_note)
        pending += _profile_changes(config, profile, budget, history, paired, host, slopes)
    if slopes:
        shown = ", ".join(f"{name} {slope:.2f}" for name, slope in slopes.items())
        notes.append(
            "Elasticity to the reference (percent an endpoint's median moved per percent the "
            "reference's did, fitted over the baseline runs and drawn toward 1 as far as they "
            f"leave it uncertain): {shown}. What remains uncertain about it widens the interval "
            "of a run whose host was far from the baseline runs' usual speed."
        )
    for level in run.load:
        checks += _load_budgets(config, level)
        pending += _load_changes(config, level, history, paired)

    adjusted = holm([1.0 if p.check.p_value is None else p.check.p_value for p in pending])
    judged = sum(1 for p in pending if p.se is not None)
    checks += [
        decide(p, q, config.compare.alpha, judged) for p, q in zip(pending, adjusted, strict=True)
    ]
    if confirmation is not None and not paired:
        again = judge(config, confirmation, baseline).checks
        checks, note = _confirmed(checks, again, confirmation)
        notes.append(note)
    if not paired:
        notes += _moved_together(checks)
    if any(c.underpowered for c in checks):
        notes.append(
            "Some checks are underpowered (marked ⚡): the noise lets them detect only changes "
            "larger than their tolerance; see the Statistical power table and `perfgate calibrate`."
        )

    statuses = {c.status for c in checks}
    verdict: VerdictName = "pass"
    if "fail" in statuses or not run.complete:
        verdict = "fail"
    elif "inconclusive" in statuses:
        verdict = "inconclusive"
    return Verdict(verdict, checks, notes, 0 if paired else len(history))


def _ab_notes(run: RunResult, base_run: RunResult) -> list[str]:
    notes = [
        "Same-run A/B: base and head ran side by side in this job, their trials interleaved in "
        "random order; changes are paired per trial."
    ]
    for side, r in (("base", base_run), ("head", run)):
        if not r.complete:
            notes.append(f"The {side} run is incomplete: {r.incomplete_reason}.")
    return notes


def _notes(config: Config, run: RunResult, history: Sequence[RunResult]) -> list[str]:
    notes = []
    if not run.complete:
        notes.append(f"The run is incomplete: {run.incomplete_reason}.")
    if not history:
        notes.append(
            "No baseline: only absolute budgets were judged. Record one with `perfgate baseline`."
        )
        return notes
    notes += _endpoint_differences(run, history)
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


def _confirmed(
    checks: list[Check], again: list[Check], confirmation: RunResult
) -> tuple[list[Check], str]:
    """Keep a failing profile change failing only where the second measurement fails it too;
    the others become inconclusive, with both figures in the message."""
    if not confirmation.complete:
        why = f"The confirmation measurement is incomplete ({confirmation.incomplete_reason})"
        return checks, f"{why}; the first measurement stands."
    second = {
        (c.endpoint, c.metric): c for c in again if c.kind == "relative" and c.phase == "profile"
    }
    result, held, dropped = [], 0, 0
    for check in checks:
        failed_change = check.status == "fail" and check.kind == "relative"
        twin = second.get((check.endpoint, check.metric)) if check.phase == "profile" else None
        if twin is None or not failed_change:
            result.append(check)
            continue
        found = "no figure" if twin.change is None else f"{twin.change:+.1%}"
        if twin.status == "fail":
            held += 1
            update = {"message": f"{check.message}; confirmed by a second measurement ({found})"}
        else:
            dropped += 1
            first = "" if check.change is None else f" ({check.change:+.1%})"
            update = {
                "status": "inconclusive",
                "message": f"failed the first measurement{first} but not a second one on fresh "
                f"app instances ({found}, {twin.status}): not reproduced, so not failing; a slow "
                "spell of the host looks like this",
            }
        result.append(check.model_copy(update={**update, "confirmation": twin.change}))
    names = ", ".join(p.name for p in confirmation.endpoints)
    note = (
        f"Confirmation: the endpoint(s) that failed a profile change ({names}) were measured a "
        f"second time, on {confirmation.instances} fresh app instance(s); {held} change(s) "
        f"failed both times and fail the gate, {dropped} did not reproduce and are reported "
        "inconclusive."
    )
    return result, note


def _moved_together(checks: list[Check]) -> list[str]:
    """Against a stored baseline, several endpoints failing their median at once is what a host
    episode the reference did not follow looks like, as well as a cost every request pays:
    measured (README, "Measured: false alarms and detection"), so the report says how to tell."""
    failed = [
        c
        for c in checks
        if c.kind == "relative" and c.phase == "profile" and c.metric == "median"
        if c.status == "fail" and c.change is not None
    ]
    if len(failed) < 2:
        return []
    moved = ", ".join(f"{c.endpoint} {c.change:+.0%}" for c in failed)
    return [
        f"{len(failed)} endpoints got slower at once ({moved}). That is what a change every "
        "request pays looks like (middleware, a shared dependency), and also what a slow "
        "spell of the host looks like; confirm with `perfgate check --against <base ref>`, "
        "which measures both side by side."
    ]


def _endpoint_differences(run: RunResult, history: Sequence[RunResult]) -> list[str]:
    """Endpoints that only one side has: what both have is compared, these are named."""
    ours = {p.name for p in run.endpoints}
    theirs = {p.name for r in history for p in r.endpoints}
    notes = []
    if theirs - ours:
        names = ", ".join(sorted(theirs - ours))
        notes.append(f"Endpoints only in the baseline (not compared): {names}.")
    if ours - theirs:
        names = ", ".join(sorted(ours - theirs))
        notes.append(f"Endpoints not in the baseline (absolute budgets only): {names}.")
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


def _profile_changes(
    config: Config,
    profile: EndpointProfile,
    budget: Budget,
    history: Sequence[RunResult],
    paired: bool,
    host: HostSpeed | None,
    slopes: dict[str, float],
) -> list[Pending]:
    """The relative profile checks of one endpoint; the elasticity of its median to the
    reference, where it was divided by it, goes into `slopes` for the report."""
    if not history:
        return []
    matches = [next((p for p in r.endpoints if p.name == profile.name), None) for r in history]
    tol, name = budget.regression, profile.name
    pending = []
    for metric in ("median", "p95"):
        now = _trial_figures(profile, metric)
        found = [(_trial_figures(m, metric), i) for i, m in enumerate(matches) if m]
        runs = [figures for figures, _ in found]
        if host is None:
            pending += relative(config, name, "profile", metric, tol, now, runs, True, paired)
            continue
        # Divided by the reference workload's same figure in the same run raised to the
        # endpoint's elasticity, so the host's speed cancels; the report still shows
        # milliseconds.
        factor_now, factors = host.factors(metric)
        hosts = [math.log(factors[i]) for figures, i in found if figures]
        fit = elasticity(hosts, [math.log(geometric_mean(figures)) for figures in runs if figures])
        scaled_now = [v / factor_now**fit.slope for v in now]
        scaled = [[v / factors[i] ** fit.slope for v in figures] for figures, i in found]
        model_var = fit.variance * (math.log(factor_now) - _mean(hosts)) ** 2
        if metric == "median" and hosts:
            slopes[name] = fit.slope
        floor = config.compare.reference_floor
        shown = {"current": _mean(now), "baseline": _mean([_mean(r) for r in runs if r])}
        for p in relative(
            config, name, "profile", metric, tol, scaled_now, scaled, True,
            min_spread=floor, model_var=model_var,
        ):  # fmt: skip
            skipped = p.check.status == "skipped"
            pending.append(p if skipped else replace(p, check=p.check.model_copy(update=shown)))
    return pending


# How far from 1 an endpoint's elasticity to the reference is expected to be, before its own
# history says: the root mean square of (elasticity - 1) over the example's five endpoints in
# four stored A/A rows of the bench, 45-69 runs each (README, "Against a stored baseline").
ELASTICITY_PRIOR_SD = 0.35


@dataclass(frozen=True)
class Elasticity:
    """How many percent an endpoint's figure moves per percent of the reference's (the slope of
    log figure on log reference over the baseline runs), and the variance of that slope."""

    slope: float
    variance: float


def elasticity(hosts: Sequence[float], figures: Sequence[float]) -> Elasticity:
    """Fit the slope of `figures` on `hosts` (both logs, one per baseline run) and shrink it
    toward 1, the reference's own, by a normal prior of sd ELASTICITY_PRIOR_SD.

    Why: measured in the bench, the example's heavy endpoints slow down 1.3-1.5 times as much
    as the reference when the host does, its light ones about as much; divided by the reference
    alone, a run on a slow host read a heavy endpoint +17% slower. Ten baseline runs fix the
    slope only roughly (about +-0.2), hence the prior, and the slope's remaining variance widens
    the interval of a run whose host was far from the baseline runs' typical speed."""
    prior = 1 / ELASTICITY_PRIOR_SD**2
    n = len(hosts)
    if n < 3:
        return Elasticity(1.0, 1 / prior)
    x_bar, y_bar = sum(hosts) / n, sum(figures) / n
    sxx = sum((x - x_bar) ** 2 for x in hosts)
    if sxx <= 0:
        return Elasticity(1.0, 1 / prior)
    slope = sum((x - x_bar) * (y - y_bar) for x, y in zip(hosts, figures, strict=True)) / sxx
    residual = sum(
        (y - y_bar - slope * (x - x_bar)) ** 2 for x, y in zip(hosts, figures, strict=True)
    ) / (n - 2)
    if residual <= 0:
        return Elasticity(slope, 0.0)
    weight = sxx / residual  # the inverse of the fitted slope's variance
    return Elasticity((weight * slope + prior) / (weight + prior), 1 / (weight + prior))


def _trial_figures(profile: EndpointProfile, metric: str) -> list[float]:
    return profile.trial_medians_ms if metric == "median" else profile.trial_p95_ms


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


@dataclass(frozen=True)
class HostSpeed:
    """The reference workload's latency in this run and in each baseline run (geometric means
    of its trial medians and of its trial p95s, ms): how fast the host was, apart from any
    change of the code."""

    now: float
    runs: list[float]
    # The tails apart: a slow spell of the host lengthens the tail of every workload more than
    # its median, so an endpoint's p95 is divided by the reference's p95 (README, "Against a
    # stored baseline": the spread of p95 changes narrowed in all four bench rows replayed).
    tail_now: float
    tail_runs: list[float]

    def factors(self, metric: str) -> tuple[float, list[float]]:
        """This run's and each baseline run's divisor for an endpoint's trial `metric`."""
        return (self.tail_now, self.tail_runs) if metric == "p95" else (self.now, self.runs)

    def note(self) -> str:
        ratio = self.now / geometric_mean(self.runs)
        if abs(ratio - 1) < 0.005:
            pace = "as fast as"
        elif ratio > 1:
            pace = f"{ratio - 1:.0%} slower than"
        else:
            pace = f"{1 - ratio:.0%} faster than"
        return (
            f"Host speed: perfgate's fixed reference workload took {self.now:.3g} ms in this run, "
            f"{pace} in the baseline runs; that is the host, not the code, so profile changes "
            "are measured relative to it, scaled by how much each endpoint followed it across "
            "the baseline runs."
        )


def host_speed(run: RunResult, history: Sequence[RunResult]) -> HostSpeed | None:
    """Present when this run and every baseline run sampled the reference workload the same
    way (inside the app's workers, or as an app of its own: its path tells which)."""
    kind = run.reference.path if run.reference else None
    references = [
        r.reference if r.reference and r.reference.path == kind else None for r in (run, *history)
    ]
    if not history or not all(r and r.trial_medians_ms and r.trial_p95_ms for r in references):
        return None
    medians = [geometric_mean(r.trial_medians_ms) for r in references if r]
    tails = [geometric_mean(r.trial_p95_ms) for r in references if r]
    return HostSpeed(medians[0], medians[1:], tails[0], tails[1:])


def _load_changes(
    config: Config, level: LoadLevel, history: Sequence[RunResult], paired: bool
) -> list[Pending]:
    if not history:
        return []
    c = level.concurrency
    matches = [next((lv for lv in r.load if lv.concurrency == c), None) for r in history]
    label = f"all @ c={c}"
    tol = config.budgets.default.regression
    if paired:
        # Side by side, each short interleaved load trial gives one throughput figure.
        base = [_positive(m.trial_rps) for m in matches if m]
        now = _positive(level.trial_rps)
        return relative(config, label, "load", "rps", tol, now, base, False, paired=True)
    windows = [_positive(m.window_rps) for m in matches if m]
    return relative(config, label, "load", "rps", tol, _positive(level.window_rps), windows, False)


def _positive(window_rps: list[float]) -> list[float]:
    """A second with no completed request (a stall) is real, but has no logarithm: count it as
    half a request, the usual continuity correction for counts."""
    return [max(v, 0.5) for v in window_rps]
