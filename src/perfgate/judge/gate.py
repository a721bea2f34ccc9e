"""Judge a run: absolute budgets, and the change against the baseline runs.

The decision rule (docs/how-the-gate-decides.md):
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
from perfgate.judge.budgets import load_budgets, profile_budgets
from perfgate.judge.comparable import incomparable, load_key
from perfgate.judge.exact import exact_checks
from perfgate.judge.hostspeed import HostSpeed, elasticity, host_speed
from perfgate.judge.instructions import corroborate, instruction_check
from perfgate.judge.neighbours import set_aside_busy
from perfgate.judge.pairs import (
    load_groups,
    pairs_note,
    positive_rps,
    profile_groups,
    spreads,
    trial_figures,
)
from perfgate.judge.relative import Pending, cannot_fail_note, decide, relative, split_cannot_fail
from perfgate.judge.stats import PairSpread, holm
from perfgate.results import (
    BaselineFile,
    Check,
    EndpointProfile,
    LoadLevel,
    Phase,
    RunResult,
    VerdictName,
)

# The timing checks of the profile: the only ones a second measurement can confirm (statement
# counts and sizes are exact, and a host's slow spell cannot move them).
TIMING_METRICS = ("median", "p95")


def is_timing_change(check: Check) -> bool:
    return check.kind == "relative" and check.phase == "profile" and check.metric in TIMING_METRICS


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
    change (perfgate.core.confirm): such a change fails only if it fails there too."""
    checks: list[Check] = []
    pending: list[Pending] = []
    history = [base_run] if base_run else (baseline.runs if baseline else [])
    paired = base_run is not None
    blocked = incomparable(config, run, base_run) if base_run else {}
    notes = _ab_notes(run, base_run, blocked) if base_run else _notes(config, run, history)
    host = None if paired else host_speed(run, history)
    if host and (unusual := host.unusual(config.compare.reference_floor)):
        notes.append(unusual)
        host = None  # compared undivided
    elif host:
        notes.append(host.note())
    elif run.reference and history and not paired:
        notes.append(
            "Some baseline runs did not measure perfgate's reference workload the way this run "
            "did, so profile changes are compared undivided (the host's speed is not factored "
            "out); record new baseline runs with `perfgate baseline`."
        )

    spread = spreads(run, base_run, blocked) if base_run else {}
    if spread:
        notes.append(pairs_note(config, spread, run.instances))
    slopes: dict[str, float] = {}
    for profile in run.endpoints:
        budget = config.budgets.for_endpoint(profile.name)
        checks += profile_budgets(profile, budget)
        if profile.name in blocked:
            checks += exact_checks(profile, budget, [], run.queries_note)
            checks += _not_compared(profile.name, "profile", blocked[profile.name], budget)
            continue
        checks += exact_checks(profile, budget, history, run.queries_note)
        checks += instruction_check(config, profile, budget, history, run.instructions_note)
        pending += _profile_changes(
            config, profile, budget, history, host, slopes, paired, spread.get("profile")
        )
    if slopes:
        shown = ", ".join(f"{name} {slope:.2f}" for name, slope in slopes.items())
        notes.append(
            "Elasticity to the reference (percent an endpoint's median moved per percent the "
            "reference's did, fitted over the baseline runs and drawn toward 1 as far as they "
            f"leave it uncertain): {shown}. What remains uncertain about it widens the interval "
            "of a run whose host was far from the baseline runs' usual speed."
        )
    for level in run.load:
        checks += load_budgets(config, level)
        key = load_key(level.concurrency)
        if key in blocked:
            budget = config.budgets.for_level(level.concurrency)
            checks += _not_compared(key, "load", blocked[key], budget)
            continue
        pending += _load_changes(config, level, history, paired, run.instances, spread.get("load"))

    alpha = config.compare.alpha
    pending, idle = split_cannot_fail(pending, alpha)
    # The Holm family: the checks with an estimate that a change could make fail.
    family = [p for p in pending if p.se is not None and p.check.p_value is not None]
    adjusted = dict(
        zip((id(p) for p in family), holm([p.check.p_value or 0.0 for p in family]), strict=True)
    )
    checks += [decide(p, adjusted.get(id(p), 1.0), alpha, len(family)) for p in pending]
    if idle:  # skipped, with the power they would have had in the family
        notes.append(cannot_fail_note([p.check for p, _ in idle]))
        checks += [
            decide(p, 1.0, alpha, len(family)).model_copy(
                update={"status": "skipped", "message": why, "p_value": None}
            )
            for p, why in idle
        ]
    if confirmation is not None and not paired:
        again = judge(config, confirmation, baseline).checks
        checks, note = _confirmed(checks, again, confirmation)
        notes.append(note)
    checks, corroborated = corroborate(checks)
    notes += corroborated
    if not paired:
        notes += _moved_together(checks)
    # Against one or two stored runs every check is underpowered by design; the note on the
    # history says why, and the report's verdict line what would detect what.
    short = not paired and len(history) < 3
    if any(c.underpowered for c in checks) and not short:
        notes.append(
            "Some checks are underpowered (marked ⚡): the noise lets them detect only changes "
            "larger than their tolerance; see the Statistical power table and `perfgate calibrate`."
        )

    checks, busy = set_aside_busy(config, checks, run)  # other work on the host: not judged
    notes += busy
    statuses = {c.status for c in checks}
    compared = any(c.kind == "relative" and c.status != "skipped" for c in checks)
    verdict: VerdictName = "pass"
    if "fail" in statuses or not run.complete:
        verdict = "fail"
    elif blocked and not compared:
        verdict = "error"  # nothing could be compared: the check did not measure a change
    elif "inconclusive" in statuses:
        verdict = "inconclusive"
    return Verdict(verdict, checks, notes, 0 if paired else len(history))


def _ab_notes(run: RunResult, base_run: RunResult, blocked: dict[str, str]) -> list[str]:
    notes = [f"Not compared, {name}: {why}." for name, why in blocked.items()]
    if blocked:
        notes.append(
            "A side that fails is reported, not compared: fix what the log of that side shows "
            "(`base/app.log` or `head/app.log`), then check again."
        )
    notes.append(
        "Same-run A/B: base and head ran side by side in this job, their trials interleaved in "
        "random order; changes are paired per trial."
    )
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
    second = {(c.endpoint, c.metric): c for c in again if is_timing_change(c)}
    result, held, dropped = [], 0, 0
    for check in checks:
        twin = second.get((check.endpoint, check.metric)) if is_timing_change(check) else None
        if twin is None or check.status != "fail":
            result.append(check)
            continue
        found = _figure(twin)
        if twin.status == "fail":
            held += 1
            # The second measurement's figures are the headline: the first was selected for
            # failing, so it leans high.
            update = {
                "message": f"{twin.message}; confirmed by a second measurement ({found}; the "
                f"first measured {_figure(check)})",
                **{k: getattr(twin, k) for k in ("current", "change", "ci_low", "ci_high")},
                "p_value": twin.p_value,
            }
        else:
            dropped += 1
            first = f" ({_figure(check)})"
            update = {
                "status": "inconclusive",
                "message": f"failed the first measurement{first} but not a second one on fresh "
                f"app instances ({found}, {twin.status}): not reproduced, so not failing; a slow "
                "spell of the host looks like this",
            }
        result.append(check.model_copy(update={**update, "confirmation": twin.change}))
    note = (
        f"Confirmation: a profile change failed, so every endpoint was profiled a second time "
        f"as the baseline was, on {confirmation.instances} fresh app instance(s); {held} "
        f"change(s) failed both times and fail the gate, with the second measurement's "
        f"figures; {dropped} did not reproduce and are reported inconclusive."
    )
    return result, note


def _figure(check: Check) -> str:
    """A timing change with its metric and unit: `median 12.3 ms vs 8.1 ms, +51.9%`."""
    if check.change is None:
        return f"{check.metric}: no figure"
    ms = ""
    if check.current is not None and check.baseline is not None:
        ms = f" {check.current:.3g} ms vs {check.baseline:.3g} ms,"
    return f"{check.metric}{ms} {check.change:+.1%}"


def _moved_together(checks: list[Check]) -> list[str]:
    """Against a stored baseline, several endpoints failing their median at once is what a host
    episode the reference did not follow looks like, as well as a cost every request pays:
    measured (docs/evidence/false-alarms-and-power.md), so the report says how to tell."""
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


def _profile_changes(
    config: Config,
    profile: EndpointProfile,
    budget: Budget,
    history: Sequence[RunResult],
    host: HostSpeed | None,
    slopes: dict[str, float],
    paired: bool,
    pair_spread: PairSpread | None,
) -> list[Pending]:
    """The relative profile checks of one endpoint; the elasticity of its median to the
    reference, where it was divided by it, goes into `slopes` for the report. `paired`: the
    history is the A/B base run, whose pairs disagree by `pair_spread` (judge.pairs)."""
    if not history:
        return []
    matches = [next((p for p in r.endpoints if p.name == profile.name), None) for r in history]
    tol, name = budget.regression, profile.name
    pending = []
    for metric in ("median", "p95"):
        now = trial_figures(profile, metric)
        found = [(trial_figures(m, metric), i) for i, m in enumerate(matches) if m]
        runs = [figures for figures, _ in found]
        if host is None:
            groups = profile_groups(profile, matches[0]) if paired and matches[0] else None
            pending += relative(
                config, name, "profile", metric, tol, now, runs, True, paired,
                pairs=(groups, pair_spread),
            )  # fmt: skip
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
            min_spread=floor, model_var=model_var, fitted=1 if len(hosts) >= 3 else 0,
        ):  # fmt: skip
            skipped = p.check.status == "skipped"
            pending.append(p if skipped else replace(p, check=p.check.model_copy(update=shown)))
    return pending


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _load_changes(
    config: Config,
    level: LoadLevel,
    history: Sequence[RunResult],
    paired: bool,
    pairs: int,
    pair_spread: PairSpread | None,
) -> list[Pending]:
    if not history:
        return []
    c = level.concurrency
    matches = [next((lv for lv in r.load if lv.concurrency == c), None) for r in history]
    label = f"all @ c={c}"
    tol = config.budgets.for_level(c).regression  # budgets.load over budgets.default
    if paired:
        # Side by side, each short interleaved load trial gives one throughput figure.
        base = [positive_rps(m.trial_rps) for m in matches if m]
        now = positive_rps(level.trial_rps)
        groups = load_groups(level, pairs)
        return relative(
            config, label, "load", "rps", tol, now, base, False, paired=True,
            pairs=(groups, pair_spread),
        )  # fmt: skip
    windows = [positive_rps(m.window_rps) for m in matches if m]
    return relative(
        config, label, "load", "rps", tol, positive_rps(level.window_rps), windows, False
    )


def _not_compared(name: str, phase: Phase, reason: str, budget: Budget) -> list[Check]:
    """The relative checks an endpoint or load level would have had, skipped with the reason."""
    metrics = ("median", "p95") if phase == "profile" else ("rps",)
    return [
        Check(endpoint=name, phase=phase, metric=metric, kind="relative", status="skipped",
              limit=budget.regression, message=f"not compared: {reason}")
        for metric in metrics
    ]  # fmt: skip
