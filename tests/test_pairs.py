"""Side by side, trials rotate over a few instance pairs: the interval must carry how far the
pairs disagree, not only how far the trials scatter (judge.pairs, stats.compare_paired)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from perfgate.endpoints import Endpoint
from perfgate.judge.stats import PairSpread, compare_paired, pair_spread
from perfgate.loadgen.client import ErrorKind, Outcome
from perfgate.measure.profile import summarize_trials

PAIRS, TRIALS = 4, 30
GROUPS = [t % PAIRS for t in range(TRIALS)]
HOLM_FIRST_STEP = 0.05 / 13  # the level the first of the example's 13 checks must reach


def _series(rng: np.random.Generator, pair_sd: float, trial_sd: float = 0.04) -> np.ndarray:
    effects = rng.normal(0.0, pair_sd, PAIRS)
    return np.array([effects[g] for g in GROUPS]) + rng.normal(0.0, trial_sd, TRIALS)


def _p(ratios: np.ndarray, **grouping: object) -> float:
    base = np.ones(ratios.size)
    estimate = compare_paired(
        base, np.exp(ratios), higher_is_worse=True, alpha=0.05, instance_floor=0.01,
        **grouping,  # type: ignore[arg-type]
    )  # fmt: skip
    return estimate.p_worse


def test_the_pooled_estimate_recovers_the_pair_variance() -> None:
    rng = np.random.default_rng(3)
    for pair_sd in (0.0, 0.03):
        series = [(_series(rng, pair_sd), GROUPS) for _ in range(300)]
        found = pair_spread(series)
        assert found is not None and found.series == 300 and found.dof == PAIRS - 1
        assert math.sqrt(found.variance) == pytest.approx(pair_sd, abs=0.005)


def test_unchanged_code_with_a_large_pair_effect_fails_near_the_nominal_rate() -> None:
    # Ten series share each check's four pair effects (a slow process is slow on every
    # endpoint). Counting the trials alone, with the 1% floor, the first series' one-sided test
    # comes out significant far more often than its level; with the pairs' spread it does not.
    rng = np.random.default_rng(11)
    checks, plain, grouped = 2000, 0, 0
    for _ in range(checks):
        effects = rng.normal(0.0, 0.05, PAIRS)
        shared = np.array([effects[g] for g in GROUPS])
        series = [shared + rng.normal(0.0, 0.04, TRIALS) for _ in range(10)]
        spread = pair_spread([(s, GROUPS) for s in series])
        plain += _p(series[0]) < HOLM_FIRST_STEP
        grouped += _p(series[0], groups=GROUPS, spread=spread) < HOLM_FIRST_STEP
    assert plain / checks > 5 * HOLM_FIRST_STEP  # measured: about 12 times
    assert grouped / checks < 2 * HOLM_FIRST_STEP  # measured: 1.3 times (t on 3 dof, approx.)


def test_a_real_change_still_shows_when_the_pairs_agree() -> None:
    rng = np.random.default_rng(5)
    series = [(_series(rng, 0.0), GROUPS) for _ in range(10)]
    spread = pair_spread(series)
    assert spread is not None and spread.variance < 0.01**2  # below the floor: floor stands
    slower = series[0][0] + math.log(1.10)
    assert _p(slower, groups=GROUPS, spread=spread) < 1e-4


def test_unequal_pairs_weigh_by_their_share_of_the_trials() -> None:
    base = [1.0] * 8
    head = [math.exp(x) for x in (0.1, 0.12, 0.1, 0.12, 0.1, 0.12, 0.3, 0.3)]
    groups = [0, 0, 0, 0, 0, 0, 1, 1]
    spread = PairSpread(variance=0.02**2, dof=1.0, series=1)
    estimate = compare_paired(
        base, head, higher_is_worse=True, alpha=0.05, groups=groups, spread=spread
    )
    within = (6 * 0.01**2 * 6 / 6 + 0.0) / (8 - 2)  # pooled around each pair's own mean
    instance = 0.02**2 * ((6 / 8) ** 2 + (2 / 8) ** 2)
    assert estimate.se == pytest.approx(math.sqrt(within / 8 + instance), rel=1e-6)
    # The floor, when larger, replaces the estimated component as the whole instance term.
    floored = compare_paired(
        base, head, higher_is_worse=True, alpha=0.05, groups=groups, spread=spread,
        instance_floor=0.05,
    )  # fmt: skip
    assert floored.se == pytest.approx(math.sqrt(within / 8 + 0.05**2), rel=1e-6)
    assert floored.dof == 6  # the trials' own degrees of freedom, never more


def _trial(*latencies_ms: float, failed: int = 0) -> list[tuple[int, Outcome]]:
    ok = [(0, Outcome(ms / 1000, 200, 10, None)) for ms in latencies_ms]
    return ok + [(0, Outcome(0.001, None, 0, ErrorKind.TIMEOUT)) for _ in range(failed)]


def test_a_trial_lost_on_one_side_is_dropped_on_both() -> None:
    endpoint = Endpoint(name="items", path="/items")
    base = [_trial(10, 11), _trial(failed=2), _trial(12, 13)]
    head = [_trial(20, 21), _trial(22, 23), _trial(failed=1)]
    both = [True, False, False]
    a = summarize_trials(endpoint, base, None, [0, 1, 0], both)
    b = summarize_trials(endpoint, head, None, [0, 1, 0], both)
    assert a.trial_medians_ms == [10.5] and b.trial_medians_ms == [20.5]
    assert a.trial_instance == b.trial_instance == [0]
    assert a.requests == 6 and a.errors == {"timeout": 2}  # nothing measured is forgotten
