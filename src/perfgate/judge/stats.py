"""Pure numeric functions: summaries, percentiles, and the change estimate with its interval.

scipy lives here and nowhere else. The comparison works on trials, not requests: each trial gives
one figure (say, its median latency), and the spread between trials and between runs is what the
interval is built from. Requests inside one run are far from independent (docs/evidence/noise.md: a
test over 200 vs 200 requests fires 40% of the time on an unchanged app), so they are never the
unit.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from perfgate.results import LatencySummary

LOG_LIMIT = 50.0  # ratios are clamped to e^±50, far past any real change


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile, q in [0, 100]."""
    if not values:
        raise ValueError("percentile of no values")
    return float(np.percentile(np.asarray(values, dtype=float), q))


def summarize_ms(latencies_s: Sequence[float]) -> LatencySummary:
    ms = [v * 1000.0 for v in latencies_s]
    return LatencySummary(
        count=len(ms),
        min=min(ms),
        max=max(ms),
        mean=statistics.fmean(ms),
        median=statistics.median(ms),
        stdev=statistics.stdev(ms) if len(ms) > 1 else 0.0,
        p95=percentile(ms, 95),
        p99=percentile(ms, 99),
    )


@dataclass(frozen=True)
class Estimate:
    """The change current/baseline as a ratio, with a two-sided (1 - 2*alpha) interval and the
    one-sided p-value for 'worse'. `runs` is how many baseline runs it rests on."""

    ratio: float
    low: float
    high: float
    p_worse: float
    spread: float
    between_run_from_history: bool
    # Standard error of the log-ratio and the degrees of freedom of its reference distribution
    # (inf = normal); the minimum detectable effect is computed from these.
    se: float = 0.0
    dof: float = math.inf
    paired: bool = False


def compare_trials(
    baseline_runs: Sequence[Sequence[float]],
    current: Sequence[float],
    *,
    higher_is_worse: bool,
    alpha: float,
    noise_floor: float,
    min_spread: float | None = None,
    model_var: float = 0.0,
    fitted: int = 0,
) -> Estimate:
    """Compare one metric's per-trial values of the current run with those of baseline runs.

    On the log scale, the difference of means has variance from three sources: the trials inside
    the current run, the trials and the run-to-run drift of the baseline runs, and the drift of
    the current run itself, which its own trials cannot show. The drift (between-run spread) is
    estimated from the baseline history when it has at least three runs, and otherwise taken as
    `noise_floor`, never below it: the honest answer to a small change against a short history is
    then a wide interval, hence 'inconclusive', not a false 'fail'. `min_spread`, when given,
    replaces `noise_floor` as the least spread once it is measured (figures divided by the
    reference workload drift far less than raw ones). `model_var` is added to the variance of the
    difference: the uncertainty of how the figures were scaled (gate.elasticity); `fitted`, how
    many parameters that scaling fitted on the same runs (a slope: 1), each of which the runs'
    spread no longer has the freedom to show: R - 1 - fitted degrees of freedom.
    """
    runs = [np.log(np.asarray(r, dtype=float)) for r in baseline_runs if len(r) > 0]
    cur = np.log(np.asarray(current, dtype=float))
    if not runs or cur.size == 0:
        raise ValueError("need baseline and current trials")

    run_means = np.array([r.mean() for r in runs])
    within_var = _pooled_within_variance([*runs, cur])
    n_cur = cur.size
    n_base = np.mean([r.size for r in runs])

    between_var = noise_floor**2
    from_history = False
    if len(runs) >= 3:
        observed = float(np.var(run_means, ddof=1)) - within_var / n_base
        least = noise_floor if min_spread is None else min_spread
        between_var = max(observed, least**2)
        from_history = True

    var_current = within_var / n_cur + between_var
    var_baseline = (within_var / n_base + between_var) / len(runs)
    se = math.sqrt(var_current + var_baseline + model_var)
    diff = float(cur.mean() - run_means.mean())
    dof = max(len(runs) - 1 - fitted, 1) if from_history else math.inf
    dist = reference_distribution(dof)

    quantile = float(dist.ppf(1 - alpha))
    low, high = diff - quantile * se, diff + quantile * se
    signed = diff if higher_is_worse else -diff
    p_worse = float(dist.sf(signed / se)) if se > 0 else (0.0 if signed > 0 else 1.0)
    return Estimate(
        ratio=math.exp(diff),
        low=math.exp(low),
        high=math.exp(high),
        p_worse=p_worse,
        spread=math.sqrt(between_var),
        between_run_from_history=from_history,
        se=se,
        dof=dof,
    )


@dataclass(frozen=True)
class PairSpread:
    """How far the instance pairs of a side-by-side check disagree, beyond what their trials'
    scatter explains: `variance` of one pair's effect on the log ratio (method of moments,
    pooled over the check's series), on `dof` degrees of freedom, from `series` series."""

    variance: float
    dof: float
    series: int


def pair_spread(series: Sequence[tuple[Sequence[float], Sequence[int]]]) -> PairSpread | None:
    """The pair component, pooled over `series` (each: per-trial log ratios head/base, and the
    pair each trial ran on). Every series gives var(pair means) - within / n per pair, an
    unbiased estimate of the same thing when the process effect is shared; their mean, floored
    at 0, is the pooled estimate. Pooling narrows the trials' part of its error, not the pairs':
    where the series share the processes' effect fully, a handful of pairs is all the evidence
    there is, so its degrees of freedom are (pairs - 1), as for a single series. Simulated
    (tests/test_pairs.py), more would let a large pair effect fail unchanged code far above
    the nominal rate."""
    estimates, pairs = [], []
    for diffs, groups in series:
        parts = _by_group(diffs, groups)
        if len(parts) < 2:
            continue
        within, _ = _within(parts)
        means = np.array([g.mean() for g in parts])
        inverse_counts = float(np.mean([1.0 / g.size for g in parts]))
        estimates.append(float(np.var(means, ddof=1)) - within * inverse_counts)
        pairs.append(len(parts))
    if not estimates:
        return None
    dof = max(min(pairs) - 1, 1)
    return PairSpread(max(float(np.mean(estimates)), 0.0), float(dof), len(estimates))


def compare_paired(
    base: Sequence[float],
    head: Sequence[float],
    *,
    higher_is_worse: bool,
    alpha: float,
    instance_floor: float = 0.0,
    groups: Sequence[int] | None = None,
    spread: PairSpread | None = None,
) -> Estimate:
    """Compare head with base from trials measured side by side: trial i of each is a pair.

    The unit is the per-pair log ratio d_i = log(head_i / base_i). Because a pair was measured
    within seconds, a slow minute of the machine lands on both halves and cancels in d_i.
    What pairing cannot remove is the difference between the processes themselves (placement,
    memory layout, and how the code meets its hash seed): trial i ran on instance pair
    `groups[i]`, so d_i = change + u_pair + e_i, and the mean's variance is
    within / n + var(u) * sum((n_pair / n)^2). var(u) comes from `spread` (the pairs'
    disagreement pooled over the check, stats.pair_spread), never below `instance_floor`^2 as
    the whole instance term; the degrees of freedom combine both parts (Satterthwaite).
    Without `groups`, all trials count as one pair. The interval is two-sided at 1 - 2*alpha;
    p_worse is the one-sided p-value of the t test on that standard error.
    """
    if len(base) != len(head):
        raise ValueError(f"paired comparison needs equal trial counts ({len(base)} vs {len(head)})")
    if len(base) < 2:
        raise ValueError("paired comparison needs at least 2 trials")
    diffs = np.log(np.asarray(head, dtype=float)) - np.log(np.asarray(base, dtype=float))
    n = diffs.size
    mean = float(diffs.mean())
    sd = float(diffs.std(ddof=1))
    parts = _by_group(diffs, groups if groups is not None else [0] * n)
    within, within_dof = _within(parts) if len(parts) > 1 else (sd * sd, n - 1)
    if within_dof < 1:  # one trial per pair: the pairs' scatter is all there is
        within, within_dof = sd * sd, n - 1
    weight = sum((g.size / n) ** 2 for g in parts)
    estimated = spread.variance * weight if spread and len(parts) > 1 else 0.0
    instance = max(estimated, instance_floor * instance_floor)
    trials_var = within / n
    se = math.sqrt(trials_var + instance)
    # Satterthwaite when the pairs' own spread is used (it brings its few degrees of freedom),
    # never more than the trials have: a floor must not make a check surer than its trials.
    spread_part = estimated**2 / spread.dof if spread and estimated >= instance > 0 else 0.0
    denominator = trials_var**2 / within_dof + spread_part
    dof = min(se**4 / denominator, within_dof) if denominator > 0 else float(within_dof)
    dist = reference_distribution(dof)
    quantile = float(dist.ppf(1 - alpha))
    signed = mean if higher_is_worse else -mean
    if se > 0:
        p_worse = float(dist.sf(signed / se))
    else:
        p_worse = 0.0 if signed > 0 else (0.5 if signed == 0 else 1.0)
    return Estimate(
        ratio=_exp(mean),
        low=_exp(mean - quantile * se),
        high=_exp(mean + quantile * se),
        p_worse=p_worse,
        spread=sd,
        between_run_from_history=False,
        se=se,
        dof=float(dof),
        paired=True,
    )


def _by_group(values: np.ndarray | Sequence[float], groups: Sequence[int]) -> list[np.ndarray]:
    array = np.asarray(values, dtype=float)
    keys = np.asarray(groups)
    if keys.size != array.size:
        raise ValueError(f"{array.size} values but {keys.size} group labels")
    return [array[keys == key] for key in sorted(set(keys.tolist()))]


def _within(parts: Sequence[np.ndarray]) -> tuple[float, int]:
    """Pooled variance around each part's own mean, and its degrees of freedom."""
    dof = sum(g.size - 1 for g in parts)
    if dof <= 0:
        return 0.0, 0
    return float(sum(((g - g.mean()) ** 2).sum() for g in parts) / dof), dof


def reference_distribution(dof: float) -> Any:
    """Student's t with `dof` degrees of freedom, or the normal when `dof` is infinite."""
    # Imported here: scipy takes ~0.5 s of CPU to import, and `perfgate load` never needs it.
    from scipy import stats as sps

    return sps.t(dof) if math.isfinite(dof) else sps.norm()


def _exp(log_value: float) -> float:
    # A 2-trial interval at a strict level can reach e^700; keep figures finite for the JSON.
    return math.exp(max(-LOG_LIMIT, min(LOG_LIMIT, log_value)))


def min_detectable(
    se: float, dof: float, level: float, power: float = 0.8, tolerance: float = 0.0
) -> float:
    """Smallest true change (as ratio - 1) that the fail rule catches with `power`.

    The rule fails a check when its estimate is significant at `level` AND beyond `tolerance`,
    so on the log scale the estimate must pass max(q(1 - level) * se, log(1 + tolerance)); it
    lands above that with `power` when the true change is q(power) * se further, q the
    quantiles of the test's reference distribution. Pass the level the check must really reach:
    after Holm across m checks the first one must beat alpha / m.
    """
    dist = reference_distribution(dof)
    bar = max(float(dist.ppf(1 - level)) * se, math.log1p(max(tolerance, 0.0)))
    return _exp(bar + float(dist.ppf(power)) * se) - 1


def chance_beyond(excess: float, se: float, dof: float) -> float:
    """How sure one can be that a change is worse than its tolerance, given by how much its
    estimate is worse than the tolerance on the log scale (`excess`) and its standard error: the
    share of the check's t distribution beyond the tolerance, as with a flat prior. Unadjusted
    for the other checks: it says how far past the tolerance a red is, not whether it is red."""
    if se <= 0:
        return 1.0 if excess > 0 else 0.0
    return float(reference_distribution(dof).cdf(excess / se))


def least_significant(se: float, dof: float, level: float) -> float:
    """The smallest change, as a ratio (2.0: twice or half), that a one-sided test at `level`
    finds significant when the estimate lands exactly on it."""
    return _exp(float(reference_distribution(dof).ppf(1 - level)) * se)


def _pooled_within_variance(groups: Sequence[np.ndarray]) -> float:
    return _within(groups)[0]


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (monotone, capped at 1), in the input order."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [0.0] * len(p_values)
    running = 0.0
    m = len(p_values)
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted
