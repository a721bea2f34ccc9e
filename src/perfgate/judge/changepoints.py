"""Steps in series of per-run figures: binary segmentation with a permutation test, for one
series (find_steps) or a family of series on one axis of runs, tested as one (joint_steps).
Numbers in, cuts out; what the series are, and what a cut means for a check, is judge.steps.

Each split is scored by a two-sample t statistic whose spread comes from the differences of
successive values; a split is a step when a shuffle of the values (under "no step" any order
is as likely) rarely scores as high AND it moves the level by least_step or more; then each
side is searched again.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from itertools import pairwise

# The smallest change of level called a step (ratio - 1). Divided by the reference, unchanged
# code drifts by 2-4% between runs on a shared runner (docs/evidence/defaults.md); a step must
# stand clear of that, and smaller steps of main move a pull request's estimate by less than
# the tolerances teams set (5-10%).
MIN_STEP = 0.05
# A step needs runs on both sides: with one run after it, a single slow run would be one.
MIN_SEGMENT = 2
# Permutations of the significance test, and the level a split must reach. With few runs after
# a step, shuffles bring them together by chance often, so the level bounds how early a step
# is seen. bench/steps.py measures the trade (docs/evidence/defaults.md): at 0.02, 0-2.5% of
# noise series of 2-5% get a false step, and a 10% step in 3% noise is placed exactly in 59-88%
# of 30-run histories (2-5 runs after it); at 0.05 the first rate reaches 8%, at 0.01 the
# second falls to 45% with two runs after. The level is of a whole family (joint_steps): ten
# series of noise get a false step in 0-3% of histories, 5-20% when each is tested alone.
PERMUTATIONS = 299
STEP_ALPHA = 0.02
SEED = 19
# The between-run spread the t statistic is never given less of (log scale): identical figures
# (a copied run) would otherwise make any difference infinitely significant.
SPREAD_FLOOR = 0.005


def find_steps(values: Sequence[float], least_step: float = MIN_STEP) -> list[tuple[int, float]]:
    """Steps in one series of log figures, in order: (index of the first value of the new
    level, permutation p-value)."""
    cuts = joint_steps([dict(enumerate(values))], least_step)
    return [(cut, found[0]) for cut, found in cuts]


def joint_steps(
    family: Sequence[dict[int, float]], least_step: float = MIN_STEP
) -> list[tuple[int, dict[int, float]]]:
    """Steps of a family of series that share one axis of runs (each series: run index -> log
    figure, for the runs that measured it), in order: (run index of the first run of the new
    level, {member: its p-value} for the members that stepped there).

    The family is tested as one (the max-T permutation test): a shuffle reorders the runs of
    every member alike, and a member's p-value is the share of shuffles in which some member's
    best split reaches its |t|. So the level holds for "no member steps anywhere", where
    testing each of a history's twenty-odd series at it would call a step of unchanged code in
    one of them in a good share of histories; members that move together (a median and its
    p95, every endpoint with the host) make the joint test cost less power than independent
    ones would. A member steps when its p-value reaches the level and its best
    split moves it by least_step or more; the cut is at the split of the one with the largest
    |t|, and each side is searched again."""
    found: dict[int, dict[int, float]] = {}
    _joint_segment(list(family), sorted({r for m in family for r in m}), found,
                   random.Random(SEED), least_step)  # fmt: skip
    return sorted(found.items())


def _joint_segment(
    family: list[dict[int, float]],
    runs: list[int],
    found: dict[int, dict[int, float]],
    rng: random.Random,
    least_step: float,
) -> None:
    least = math.log1p(least_step)
    members = {}  # member -> its runs in this segment
    for m, series in enumerate(family):
        own = [r for r in runs if r in series]
        if len(own) >= 2 * MIN_SEGMENT:
            members[m] = own
    splits = {m: _best_split([family[m][r] for r in own]) for m, own in members.items()}
    if not any(moved >= least for _, _, moved in splits.values()):
        return  # the cheap way out, and the usual one: no member's best split is large enough
    shuffled, maxima = list(runs), []
    for _ in range(PERMUTATIONS):
        rng.shuffle(shuffled)
        maxima.append(
            max(_best_split([family[m][r] for r in shuffled if r in family[m]])[0] for m in members)
        )

    def p_value(t: float) -> float:
        return (sum(x >= t for x in maxima) + 1) / (PERMUTATIONS + 1)

    qualified = [
        m for m, (t, _, moved) in splits.items() if moved >= least and p_value(t) <= STEP_ALPHA
    ]
    if not qualified:
        return
    lead = max(qualified, key=lambda m: splits[m][0])
    cut = members[lead][splits[lead][1]]
    stepped = {}
    for m, own in members.items():
        ts, moves = _split_ts([family[m][r] for r in own])
        k = sum(r < cut for r in own)
        if MIN_SEGMENT <= k <= len(own) - MIN_SEGMENT and moves[k] >= least:
            p = p_value(ts[k])
            if p <= STEP_ALPHA:
                stepped[m] = p
    found[cut] = stepped
    _joint_segment(family, [r for r in runs if r < cut], found, rng, least_step)
    _joint_segment(family, [r for r in runs if r >= cut], found, rng, least_step)


def _best_split(values: Sequence[float]) -> tuple[float, int, float]:
    """The split with the largest |t|: that |t|, the index of the first value after it, and
    how far it moves the level (on the log scale)."""
    ts, moves = _split_ts(values)
    best = max(range(len(ts)), key=ts.__getitem__)
    return ts[best], best, moves[best]


def _split_ts(values: Sequence[float]) -> tuple[list[float], list[float]]:
    """For the split before each value k: its |t| (0 where it leaves fewer than MIN_SEGMENT
    values on a side) and the difference of the two sides' means. The spread in t is estimated
    from the differences of successive values (the mean square successive difference, von
    Neumann's): a level change enters it through the one difference across it, so a step, or a
    step and its revert further on, barely inflates the spread it is measured against, where a
    pooled within-side spread would take in a whole other level. Shuffled, every level change
    is many successive differences: hence the test's power."""
    n = len(values)
    sums = [0.0]
    for v in values:
        sums.append(sums[-1] + v)
    square_differences = sum((b - a) ** 2 for a, b in pairwise(values))
    spread = max(math.sqrt(square_differences / (2 * max(n - 1, 1))), SPREAD_FLOOR)
    ts, moves = [0.0] * n, [0.0] * n
    for k in range(MIN_SEGMENT, n - MIN_SEGMENT + 1):
        moves[k] = abs((sums[n] - sums[k]) / (n - k) - sums[k] / k)
        ts[k] = moves[k] / (spread * math.sqrt(1 / k + 1 / (n - k)))
    return ts, moves
