"""Same-run A/B: which instance pair each trial ran on, and how far the pairs disagree.

Trials rotate over the pairs of app instances (compare.ab_instances): d_i = change + u_pair +
e_i. How much the pairs' own effect u varies is a property of the processes (placement, memory
layout, how the code meets its hash seed), shared by every endpoint of the run, so it is
estimated once per phase from all of the phase's series (stats.pair_spread) and every check of
that phase carries it in its standard error (stats.compare_paired). Without that, a check
rests on a few processes while its t test counts thirty trials.
"""

from __future__ import annotations

import math

from perfgate.config import Config
from perfgate.judge.stats import PairSpread, pair_spread
from perfgate.results import EndpointProfile, LoadLevel, Phase, RunResult

METRICS = ("median", "p95")


def positive_rps(rps: list[float]) -> list[float]:
    """A second (or trial) with no completed request is real, but has no logarithm: count it as
    half a request, the usual continuity correction for counts."""
    return [max(v, 0.5) for v in rps]


def trial_figures(profile: EndpointProfile, metric: str) -> list[float]:
    return profile.trial_medians_ms if metric == "median" else profile.trial_p95_ms


def profile_groups(head: EndpointProfile, base: EndpointProfile) -> list[int] | None:
    """The pair of each trial, when both sides say the same (files from before perfgate
    recorded it say nothing: then all trials count as one pair, and the floor alone stands
    for the instances)."""
    if head.trial_instance and head.trial_instance == base.trial_instance:
        return list(head.trial_instance)
    return None


def load_groups(level: LoadLevel, pairs: int) -> list[int]:
    """Load trials of a level rotate over the pairs in order (measure.load.load_level_pair)."""
    return [n % max(pairs, 1) for n in range(len(level.trial_rps))]


def spreads(
    run: RunResult, base_run: RunResult, blocked: dict[str, str]
) -> dict[Phase, PairSpread | None]:
    """The pairs' disagreement in each phase of an A/B run, pooled over its series."""
    profile_series = []
    bases = {p.name: p for p in base_run.endpoints}
    for head in run.endpoints:
        base = bases.get(head.name)
        groups = profile_groups(head, base) if base and head.name not in blocked else None
        if base is None or groups is None:
            continue
        for metric in METRICS:
            now, then = trial_figures(head, metric), trial_figures(base, metric)
            if len(now) == len(then) == len(groups) and min(now + then, default=0) > 0:
                ratios = [math.log(h / b) for h, b in zip(now, then, strict=True)]
                profile_series.append((ratios, groups))
    load_series = []
    levels = {lv.concurrency: lv for lv in base_run.load}
    for level in run.load:
        base_level = levels.get(level.concurrency)
        if base_level is None or len(base_level.trial_rps) != len(level.trial_rps):
            continue
        now, then = positive_rps(level.trial_rps), positive_rps(base_level.trial_rps)
        ratios = [math.log(h / b) for h, b in zip(now, then, strict=True)]
        load_series.append((ratios, load_groups(level, run.instances)))
    return {
        "profile": pair_spread(profile_series),
        "load": pair_spread(load_series),
    }


def pairs_note(config: Config, spread: dict[Phase, PairSpread | None], pairs: int) -> str:
    """How far the instance pairs disagreed, against the floor the checks assume at least."""
    shown = []
    for phase, found in spread.items():
        if found is not None:
            shown.append(f"{phase} {math.sqrt(found.variance):.1%} ({found.series} series)")
    measured = "; ".join(shown) if shown else "not measurable (one pair)"
    return (
        f"Instance pairs: trials rotated over {pairs} pair(s) of app instances. How far one "
        f"pair's change differed from the others', beyond its trials' scatter: {measured}; "
        f"each check's interval carries that or the {config.compare.ab_floor:.0%} floor "
        "(compare.ab_floor), whichever is larger."
    )
