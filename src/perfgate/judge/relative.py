"""Relative checks: the change against a reference, its interval, power, and the decision rule.

A reference is either the stored baseline history (stats.compare_trials: between-run spread from
the history or `compare.noise_floor`) or, in same-run A/B mode, the base side measured beside
the head (stats.compare_paired: per-trial log ratios, t interval). gate.py collects the checks,
adjusts their p-values together (Holm) and hands each to `decide`:
- fail: significant after Holm AND the estimate is beyond the tolerance;
- pass: the whole interval is within the tolerance;
- otherwise inconclusive.
Each check also gets its minimum detectable effect; above the tolerance it is underpowered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from perfgate.config import Config
from perfgate.judge.stats import (
    Estimate,
    PairSpread,
    chance_beyond,
    compare_paired,
    compare_trials,
    least_significant,
    min_detectable,
)
from perfgate.results import Check, Phase

# A check that could be significant only on a change beyond this factor (a tenfold slowdown,
# throughput down to a tenth) cannot fail in any run worth gating: it is skipped, not judged.
CANNOT_FAIL_FACTOR = 10.0


@dataclass(frozen=True)
class Pending:
    """A relative check before the Holm adjustment decides it."""

    check: Check
    tolerance: float
    higher_is_worse: bool
    se: float | None = None
    dof: float = math.inf


def relative(
    config: Config,
    endpoint: str,
    phase: Phase,
    metric: str,
    tolerance: float | None,
    current: list[float],
    baseline_runs: list[list[float]],
    higher_is_worse: bool,
    paired: bool = False,
    min_spread: float | None = None,
    model_var: float = 0.0,
    pairs: tuple[list[int] | None, PairSpread | None] = (None, None),
    fitted: int = 0,
) -> list[Pending]:
    """One pending check of `current` trial figures against the reference's (one list per
    baseline run; in paired mode one list, the base side). `min_spread` is the least
    between-run spread once measured from 3+ runs, when not compare.noise_floor (the figures
    were divided by the reference workload); `model_var`, the variance that dividing adds.
    `pairs` (paired mode): the instance pair of each trial, and how far the pairs disagree
    (judge.pairs)."""
    if tolerance is None:
        return []
    problem = None
    if not current or not any(baseline_runs):
        problem = "not in the baseline" if current else "no measurement"
    elif paired and (len(baseline_runs[0]) != len(current) or len(current) < 2):
        counts = f"{len(baseline_runs[0])} vs {len(current)}"
        problem = f"base and head trial counts differ or are too few ({counts})"
    if problem:
        skipped = Check(
            endpoint=endpoint, phase=phase, metric=metric, kind="relative", status="skipped",
            limit=tolerance, message=problem,
        )  # fmt: skip
        return [Pending(skipped, tolerance, higher_is_worse)]
    estimate = _estimate(
        config, baseline_runs, current, higher_is_worse, paired, min_spread, model_var, pairs,
        fitted,
    )  # fmt: skip
    runs = [r for r in baseline_runs if r]
    base_value = sum(sum(r) / len(r) for r in runs) / len(runs)
    check = Check(
        endpoint=endpoint, phase=phase, metric=metric, kind="relative", status="inconclusive",
        current=sum(current) / len(current), baseline=base_value, limit=tolerance,
        change=estimate.ratio - 1, ci_low=estimate.low - 1, ci_high=estimate.high - 1,
        p_value=estimate.p_worse, se=estimate.se,
        dof=estimate.dof if math.isfinite(estimate.dof) else None,
    )  # fmt: skip
    return [Pending(check, tolerance, higher_is_worse, estimate.se, estimate.dof)]


def _estimate(
    config: Config,
    reference: list[list[float]],
    current: list[float],
    higher_is_worse: bool,
    paired: bool,
    min_spread: float | None,
    model_var: float,
    pairs: tuple[list[int] | None, PairSpread | None],
    fitted: int,
) -> Estimate:
    alpha = config.compare.alpha
    if paired:
        groups, spread = pairs
        return compare_paired(
            reference[0],
            current,
            higher_is_worse=higher_is_worse,
            alpha=alpha,
            instance_floor=config.compare.ab_floor,
            groups=groups if groups is not None and len(groups) == len(current) else None,
            spread=spread,
        )
    return compare_trials(
        reference,
        current,
        higher_is_worse=higher_is_worse,
        alpha=alpha,
        noise_floor=config.compare.noise_floor,
        min_spread=min_spread,
        model_var=model_var,
        fitted=fitted,
    )


def decide(pending: Pending, adjusted_p: float, alpha: float, judged: int) -> Check:
    """Apply the rule to one check, given its Holm-adjusted p-value among `judged` checks."""
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
    # Plan for the level the first Holm step demands (alpha / number of judged checks). The
    # rule's own 80% point; underpowered where the noise, not the tolerance, sets the bar a
    # change must clear (a change must be beyond the tolerance by more to be significant).
    mde, underpowered = None, False
    if pending.se is not None:
        level = alpha / max(judged, 1)
        mde = min_detectable(pending.se, pending.dof, level, tolerance=tol)
        underpowered = least_significant(pending.se, pending.dof, level) - 1 > tol
    if significant and beyond:
        status = "fail"
        why = f"worse than the {tol:.0%} tolerance, significant (Holm p={adjusted_p:.2g})"
        if pending.se is not None:
            excess = math.log1p(check.change) - math.log1p(tol)  # on the log scale
            if not pending.higher_is_worse:
                excess = math.log1p(-tol) - math.log1p(check.change)
            sure = chance_beyond(excess, pending.se, pending.dof)
            why += f"; {_sure(sure)} sure it is beyond the tolerance, not just beyond 0"
    elif within:
        status, why = "pass", f"the interval stays within the {tol:.0%} tolerance"
    else:
        status = "inconclusive"
        why = f"the interval reaches past the {tol:.0%} tolerance; not significant enough to fail"
    if underpowered and status != "fail":
        why += f"; underpowered: detects only changes above {mde:.0%}"
    return check.model_copy(
        update={
            "status": status, "p_value": adjusted_p, "message": why, "mde": mde,
            "underpowered": underpowered,
        }
    )  # fmt: skip


def _sure(chance: float) -> str:
    """A probability as a reader weighs it: 97%, or >99.9% rather than a rounded 100%."""
    return ">99.9%" if chance > 0.999 else f"{chance:.0%}"


def split_cannot_fail(
    pending: list[Pending], alpha: float
) -> tuple[list[Pending], list[tuple[Pending, str]]]:
    """Split off the checks that cannot fail: even at the most lenient level a Holm step reaches
    (alpha itself), only a change beyond CANNOT_FAIL_FACTOR would be significant. Kept in the
    family they would only make every other check's bar higher; they are skipped instead."""
    kept: list[Pending] = []
    idle: list[tuple[Pending, str]] = []
    for p in pending:
        least = least_significant(p.se, p.dof, alpha) if p.se is not None else None
        if least is None or least <= CANNOT_FAIL_FACTOR:
            kept.append(p)
            continue
        shown = f"{least:.0f}x" if least < 1000 else "a thousandfold"
        message = (
            f"cannot fail: only a change beyond {shown} would be significant with this "
            "history's spread, so it is left out of the Holm family"
        )
        idle.append((p, message))
    return kept, idle


def cannot_fail_note(idle: list[Check]) -> str:
    names = ", ".join(f"{c.endpoint} {c.metric}" for c in idle)
    return (
        f"{len(idle)} check(s) cannot fail here ({names}): the spread of their figures is so wide "
        f"that only a change beyond {CANNOT_FAIL_FACTOR:g}x would be significant. They are "
        "skipped and left out of the Holm correction, so they do not raise the bar of the "
        "others; `perfgate check --against <ref>` or more trials give them a measurement."
    )
