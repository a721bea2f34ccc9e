"""A/A calibration: how much two identical sides differ when measured side by side, and what
tolerance each endpoint can therefore honestly hold.

Two sides of the current tree run at once and are measured exactly as `check --against` measures
base and head (perfgate.core.check.measure_ab). Any difference is noise; for each endpoint and
metric the paired spread, with the instance pairs' own spread (judge.pairs), gives the smallest
change that is significant at the level the gate must reach after Holm across all checks. The
tolerance to configure is that change rounded up to a whole percent: below it, the noise and not
the tolerance would decide what fails. `detects` is what the fail rule then catches 80% of the
time at that tolerance (always above it: a change exactly at the tolerance is estimated beyond it
only half of the time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from perfgate.config import Config
from perfgate.judge.pairs import load_groups, profile_groups, spreads
from perfgate.judge.stats import compare_paired, least_significant, min_detectable
from perfgate.results import RunResult


@dataclass(frozen=True)
class NoiseRow:
    endpoint: str
    metric: str
    trials: int
    change: float  # observed A/A change (ratio - 1): should be near 0
    spread: float  # standard deviation of the per-pair log ratios (about a CV)
    mde: float  # the change the fail rule catches 80% of the time, at the honest tolerance
    honest_tolerance: float  # the least significant change after Holm, up to a whole percent
    configured: float | None  # the tolerance thresholds.yaml sets now
    instance_spread: float | None = None  # the pairs' own spread in this phase (log sd)


def noise_table(config: Config, a: RunResult, b: RunResult) -> list[NoiseRow]:
    Series = tuple[str, str, list[float], list[float], float | None, list[int] | None]
    pairs: list[Series] = []
    for pa, pb in zip(a.endpoints, b.endpoints, strict=True):
        tol = config.budgets.for_endpoint(pa.name).regression
        groups = profile_groups(pb, pa)
        pairs.append((pa.name, "median", pa.trial_medians_ms, pb.trial_medians_ms, tol, groups))
        pairs.append((pa.name, "p95", pa.trial_p95_ms, pb.trial_p95_ms, tol, groups))
    for la, lb in zip(a.load, b.load, strict=True):
        tol = config.budgets.for_level(la.concurrency).regression
        rotation = load_groups(lb, b.instances)
        label = f"all @ c={la.concurrency}"
        pairs.append((label, "rps", la.trial_rps, lb.trial_rps, tol, rotation))
    usable = [p for p in pairs if len(p[2]) == len(p[3]) >= 2]
    level = config.compare.alpha / max(len(usable), 1)
    spread = spreads(b, a, {})
    rows = []
    for endpoint, metric, xs, ys, tol, groups in usable:
        phase = spread["load" if metric == "rps" else "profile"]
        estimate = compare_paired(
            xs,
            ys,
            higher_is_worse=True,
            alpha=config.compare.alpha,
            instance_floor=config.compare.ab_floor,
            groups=groups if groups is not None and len(groups) == len(xs) else None,
            spread=phase,
        )
        significant = least_significant(estimate.se, estimate.dof, level) - 1
        honest = math.ceil(significant * 100 - 1e-9) / 100
        rows.append(
            NoiseRow(
                endpoint=endpoint,
                metric=metric,
                trials=len(xs),
                change=estimate.ratio - 1,
                spread=estimate.spread,
                mde=min_detectable(estimate.se, estimate.dof, level, tolerance=honest),
                honest_tolerance=honest,
                configured=tol,
                instance_spread=math.sqrt(phase.variance) if phase else None,
            )
        )
    return rows


def render_noise(rows: list[NoiseRow]) -> str:
    lines = [
        f"{'endpoint':<28} {'metric':<7} {'trials':>6} {'A/A change':>10} {'pair CV':>8} "
        f"{'detects':>8} {'honest tol':>10} {'configured':>10}",
    ]
    for r in rows:
        configured = "-" if r.configured is None else f"{r.configured:.0%}"
        held = r.configured is None or r.honest_tolerance <= r.configured
        flag = "" if held else "  <- cannot hold its tolerance"
        lines.append(
            f"{r.endpoint[:28]:<28} {r.metric:<7} {r.trials:>6} {r.change:>+10.1%} "
            f"{r.spread:>8.1%} {r.mde:>8.1%} {r.honest_tolerance:>10.0%} {configured:>10}{flag}"
        )
    lines.append(
        "'honest tol' = the smallest tolerance this endpoint can hold with these trial counts "
        "(below it, a change must be larger still to be significant after Holm); 'detects' = "
        "the change the gate then fails 80% of the time."
    )
    spreads_seen = {r.instance_spread for r in rows if r.instance_spread is not None}
    if spreads_seen:
        lines.append(
            f"Instance pairs: their own spread beyond the trials' was {max(spreads_seen):.1%} "
            "at most (the checks assume at least compare.ab_floor)."
        )
    return "\n".join(lines)
