"""How fast the host was in a stored-baseline run, from perfgate's fixed reference workload, and
how strongly each endpoint follows it (its elasticity). The model behind dividing an endpoint's
figures by the host's speed, so that a slow runner is not read as slow code."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import geometric_mean

from perfgate.judge.stats import reference_distribution
from perfgate.results import RunResult

# How unusual the reference may be before it is not divided by: outside the two-sided 99%
# prediction interval of its own history (a run in a hundred on an unchanged host).
REFERENCE_GUARD_LEVEL = 0.01

# How far from 1 an endpoint's elasticity to the reference is expected to be, before its own
# history says: the root mean square of (elasticity - 1) over the example's five endpoints in
# four stored A/A rows of the bench, 45-69 runs each (docs/evidence/defaults.md).
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


@dataclass(frozen=True)
class HostSpeed:
    """The reference workload's latency in this run and in each baseline run (geometric means
    of its trial medians and of its trial p95s, ms): how fast the host was, apart from any
    change of the code."""

    now: float
    runs: list[float]
    # The tails apart: a slow spell of the host lengthens the tail of every workload more than
    # its median, so an endpoint's p95 is divided by the reference's p95 (docs/evidence/
    # defaults.md: the spread of p95 changes narrowed in all four bench rows replayed).
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
            f"{pace} in the baseline runs; within what its history shows, that is the host, so "
            "profile changes are measured relative to it, scaled by how much each endpoint "
            "followed it across the baseline runs."
        )

    def unusual(self, least_spread: float) -> str | None:
        """Why the reference cannot be divided by, when it lies outside the prediction interval
        of its own history (3+ runs): a host unlike any the baseline saw, or a change that
        every request of the app's processes pays (heap and collector work, a dependency, a
        background thread), which slows the reference too. A stored baseline cannot tell the
        two apart; dividing would take the second away, or turn it into an improvement. The
        history's spread counts as `least_spread` (compare.reference_floor) at least: runs
        recorded in one quiet moment (or copies of one run) would otherwise predict a range no
        later run can meet."""
        if len(self.runs) < 3:
            return None
        logs = [math.log(r) for r in self.runs]
        n, mean = len(logs), sum(logs) / len(logs)
        sd = max(math.sqrt(sum((x - mean) ** 2 for x in logs) / (n - 1)), least_spread)
        bound = float(reference_distribution(n - 1).ppf(1 - REFERENCE_GUARD_LEVEL / 2))
        distance = math.log(self.now) - mean
        if sd <= 0 or abs(distance) <= bound * sd * math.sqrt(1 + 1 / n):
            return None
        low, high = (math.exp(mean + k * bound * sd * math.sqrt(1 + 1 / n)) for k in (-1, 1))
        return (
            f"Host or process changed: perfgate's reference workload took {self.now:.3g} ms in "
            f"this run, outside what its {n} baseline runs predict ({low:.3g}-{high:.3g} ms, "
            "99%). That is a host unlike the baseline's, or a cost every request of the app's "
            "processes pays (memory and collector work, a dependency, a background thread), "
            "and a stored baseline cannot tell which; so profile changes are compared "
            "undivided, with the history's own run-to-run spread. Use `perfgate check "
            "--against <base ref>` to measure the change itself."
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
