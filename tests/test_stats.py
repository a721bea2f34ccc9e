from __future__ import annotations

import math

import pytest

from perfgate.judge.pairs import positive_rps
from perfgate.judge.stats import compare_trials, holm, percentile, summarize_ms


def test_summary_of_known_values() -> None:
    summary = summarize_ms([0.001, 0.002, 0.003, 0.004, 0.010])
    assert summary.count == 5
    assert summary.min == pytest.approx(1.0)
    assert summary.max == pytest.approx(10.0)
    assert summary.median == pytest.approx(3.0)
    assert summary.mean == pytest.approx(4.0)
    assert summary.p95 == pytest.approx(8.8)


def test_percentile_interpolates() -> None:
    assert percentile([1, 2, 3, 4], 50) == pytest.approx(2.5)
    assert percentile([5], 99) == 5


def test_holm_matches_hand_computation() -> None:
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> monotone 0.06
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_unchanged_trials_give_ratio_one_and_no_evidence() -> None:
    base = [[10.0, 10.5, 9.8, 10.2]]
    estimate = compare_trials(base, base[0], higher_is_worse=True, alpha=0.05, noise_floor=0.15)
    assert estimate.ratio == pytest.approx(1.0)
    assert estimate.p_worse == pytest.approx(0.5)
    assert estimate.low < 1 < estimate.high


def test_a_threefold_slowdown_is_significant_even_with_the_noise_floor() -> None:
    base = [[10.0, 10.5, 9.8, 10.2]]
    current = [30.0, 31.5, 29.4, 30.6]
    estimate = compare_trials(base, current, higher_is_worse=True, alpha=0.05, noise_floor=0.15)
    assert estimate.ratio == pytest.approx(3.0)
    assert estimate.p_worse < 1e-4
    assert estimate.low > 2


def test_interval_width_follows_the_noise_floor_without_history() -> None:
    base, current = [[10.0] * 4], [10.0] * 4
    estimate = compare_trials(base, current, higher_is_worse=True, alpha=0.05, noise_floor=0.15)
    # var = 0.15^2 (current run drift) + 0.15^2 (baseline run drift); z(0.95) = 1.645
    half_width = 1.6448536 * math.sqrt(2) * 0.15
    assert math.log(estimate.high) == pytest.approx(half_width, rel=1e-4)
    assert not estimate.between_run_from_history


def test_history_of_three_runs_measures_the_spread() -> None:
    base = [[10.0, 10.1], [12.0, 12.1], [8.0, 8.1]]
    estimate = compare_trials(base, [10.0, 10.1], higher_is_worse=True, alpha=0.05, noise_floor=0.0)
    assert estimate.between_run_from_history
    assert estimate.spread > 0.1


def test_throughput_drop_is_worse_when_higher_is_better() -> None:
    base = [[100.0, 101.0, 99.0]]
    estimate = compare_trials(
        base, [50.0, 51.0, 49.0], higher_is_worse=False, alpha=0.05, noise_floor=0.05
    )
    assert estimate.ratio == pytest.approx(0.5, rel=0.01)
    assert estimate.p_worse < 0.001


def test_a_stalled_second_of_load_does_not_break_the_comparison() -> None:
    windows = positive_rps([0.0, 120.0, 130.0])
    estimate = compare_trials(
        [windows],
        positive_rps([110.0, 0.0, 125.0]),
        higher_is_worse=False,
        alpha=0.05,
        noise_floor=0.15,
    )
    assert math.isfinite(estimate.ratio) and math.isfinite(estimate.low)


def test_a_slope_fitted_on_the_runs_takes_a_degree_of_freedom() -> None:
    runs = [[10.0, 10.2, 9.9], [10.5, 10.4, 10.6], [9.6, 9.8, 9.7], [10.1, 10.0, 10.2]]
    now = [10.3, 10.1, 10.2]
    plain = compare_trials(runs, now, higher_is_worse=True, alpha=0.05, noise_floor=0.0)
    fitted = compare_trials(runs, now, higher_is_worse=True, alpha=0.05, noise_floor=0.0, fitted=1)
    assert (plain.dof, fitted.dof) == (3, 2)
    assert fitted.high > plain.high and fitted.p_worse > plain.p_worse  # a wider t, no surer
