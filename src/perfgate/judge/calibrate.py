"""A/A calibration: how much two identical sides differ when measured side by side, and what
tolerance each endpoint can therefore honestly hold.

Two sides of the current tree run at once and are measured exactly as `check --against` measures
base and head (perfgate.core.check.measure_ab). Any difference is noise; for each endpoint and
metric the paired spread gives the minimum detectable effect at the level the gate must reach after
Holm across all checks, and the tolerance to configure is that effect rounded up to a whole percent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from perfgate.config import Config
from perfgate.judge.stats import compare_paired, min_detectable
from perfgate.results import RunResult


@dataclass(frozen=True)
class NoiseRow:
    endpoint: str
    metric: str
    trials: int
    change: float  # observed A/A change (ratio - 1): should be near 0
    spread: float  # standard deviation of the per-pair log ratios (about a CV)
    mde: float  # smallest change detectable with 80% power after Holm
    honest_tolerance: float  # mde rounded up to a whole percent
    configured: float | None  # the tolerance thresholds.yaml sets now


def noise_table(config: Config, a: RunResult, b: RunResult) -> list[NoiseRow]:
    pairs: list[tuple[str, str, list[float], list[float], float | None]] = []
    for pa, pb in zip(a.endpoints, b.endpoints, strict=True):
        tol = config.budgets.for_endpoint(pa.name).regression
        pairs.append((pa.name, "median", pa.trial_medians_ms, pb.trial_medians_ms, tol))
        pairs.append((pa.name, "p95", pa.trial_p95_ms, pb.trial_p95_ms, tol))
    for la, lb in zip(a.load, b.load, strict=True):
        tol = config.budgets.for_level(la.concurrency).regression
        pairs.append((f"all @ c={la.concurrency}", "rps", la.trial_rps, lb.trial_rps, tol))
    usable = [p for p in pairs if len(p[2]) == len(p[3]) >= 2]
    level = config.compare.alpha / max(len(usable), 1)
    rows = []
    for endpoint, metric, xs, ys, tol in usable:
        estimate = compare_paired(
            xs,
            ys,
            higher_is_worse=True,
            alpha=config.compare.alpha,
            instance_floor=config.compare.ab_floor,
        )
        mde = min_detectable(estimate.se, estimate.dof, level)
        rows.append(
            NoiseRow(
                endpoint=endpoint,
                metric=metric,
                trials=len(xs),
                change=estimate.ratio - 1,
                spread=estimate.spread,
                mde=mde,
                honest_tolerance=math.ceil(mde * 100) / 100,
                configured=tol,
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
        flag = "  <- cannot hold its tolerance" if r.configured and r.mde > r.configured else ""
        lines.append(
            f"{r.endpoint[:28]:<28} {r.metric:<7} {r.trials:>6} {r.change:>+10.1%} "
            f"{r.spread:>8.1%} {r.mde:>8.1%} {r.honest_tolerance:>10.0%} {configured:>10}{flag}"
        )
    lines.append(
        "'detects' = smallest change caught with 80% power after Holm across all checks; "
        "'honest tol' = the regression tolerance this endpoint can hold with these trial counts."
    )
    return "\n".join(lines)
