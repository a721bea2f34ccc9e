"""The paired A/B statistics and the decision rule built on them, on data with known answers."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfgate.config import Config
from perfgate.judge.gate import judge
from perfgate.judge.stats import compare_paired, holm, min_detectable
from perfgate.measure.load import merge_levels
from perfgate.measure.profile import balanced_orders
from perfgate.results import EndpointProfile, Environment, LoadLevel, RunResult
from tests.runs import level

T_95_DOF3 = 2.353363  # Student t, 0.95 quantile, 3 degrees of freedom (printed tables)


def test_paired_interval_matches_the_t_interval_by_hand() -> None:
    base = [10.0, 20.0, 30.0, 40.0]
    logs = [0.1, 0.2, 0.1, 0.2]
    head = [b * math.exp(d) for b, d in zip(base, logs, strict=True)]
    estimate = compare_paired(base, head, higher_is_worse=True, alpha=0.05)
    se = math.sqrt(0.01 / 3) / 2  # sd of the log ratios over sqrt(n)
    assert estimate.ratio == pytest.approx(math.exp(0.15))
    assert math.log(estimate.low) == pytest.approx(0.15 - T_95_DOF3 * se, rel=1e-5)
    assert math.log(estimate.high) == pytest.approx(0.15 + T_95_DOF3 * se, rel=1e-5)
    assert estimate.se == pytest.approx(se)
    assert estimate.dof == 3
    # t = 0.15 / se = 5.196 with 3 dof: one-sided p = 0.00692 (tables)
    assert estimate.p_worse == pytest.approx(0.00692, abs=5e-5)


def test_the_instance_floor_adds_in_quadrature_to_the_standard_error() -> None:
    base = [10.0, 20.0, 30.0, 40.0]
    head = [b * math.exp(d) for b, d in zip(base, [0.1, 0.2, 0.1, 0.2], strict=True)]
    plain = compare_paired(base, head, higher_is_worse=True, alpha=0.05)
    floored = compare_paired(base, head, higher_is_worse=True, alpha=0.05, instance_floor=0.04)
    assert floored.se == pytest.approx(math.sqrt(plain.se**2 + 0.04**2))
    assert floored.ratio == plain.ratio
    assert floored.p_worse > plain.p_worse


def test_a_sample_against_itself_shows_no_change() -> None:
    values = [3.1, 2.9, 3.4, 3.0, 3.3]
    estimate = compare_paired(values, values, higher_is_worse=True, alpha=0.05)
    assert estimate.ratio == 1.0
    assert estimate.p_worse == 0.5


def test_lower_throughput_is_worse_when_higher_is_better() -> None:
    base = [100.0, 104.0, 98.0, 101.0]
    head = [v * 0.5 for v in base]
    worse = compare_paired(base, head, higher_is_worse=False, alpha=0.05)
    assert worse.ratio == pytest.approx(0.5)
    assert worse.p_worse < 1e-9  # identical ratios: next to no scatter, surely worse
    better = compare_paired(base, head, higher_is_worse=True, alpha=0.05)
    assert better.p_worse > 1 - 1e-9


def test_unequal_or_too_few_trials_are_refused() -> None:
    with pytest.raises(ValueError, match="equal trial counts"):
        compare_paired([1.0, 2.0], [1.0], higher_is_worse=True, alpha=0.05)
    with pytest.raises(ValueError, match="at least 2"):
        compare_paired([1.0], [1.0], higher_is_worse=True, alpha=0.05)


def test_minimum_detectable_effect_by_hand() -> None:
    # normal: (z(0.95) + z(0.80)) * se = (1.644854 + 0.841621) * 0.1
    assert min_detectable(0.1, math.inf, 0.05) == pytest.approx(math.expm1(0.2486475), rel=1e-5)
    # fewer degrees of freedom and a stricter level both need a larger effect
    assert min_detectable(0.1, 4, 0.05) > min_detectable(0.1, math.inf, 0.05)
    assert min_detectable(0.1, 4, 0.005) > min_detectable(0.1, 4, 0.05)


positive = st.floats(min_value=0.05, max_value=1e4, allow_nan=False)
pairs = st.lists(st.tuples(positive, positive), min_size=2, max_size=30)


@settings(max_examples=200, deadline=None)
@given(pairs, st.floats(min_value=0.001, max_value=0.25))
def test_interval_contains_the_estimate_and_p_is_a_probability(
    data: list[tuple[float, float]], alpha: float
) -> None:
    base, head = [a for a, _ in data], [b for _, b in data]
    estimate = compare_paired(base, head, higher_is_worse=True, alpha=alpha)
    assert estimate.low <= estimate.ratio * (1 + 1e-9)
    assert estimate.ratio <= estimate.high * (1 + 1e-9)
    assert 0.0 <= estimate.p_worse <= 1.0


@settings(max_examples=200, deadline=None)
@given(pairs, st.floats(min_value=0.1, max_value=10))
def test_swapping_sides_inverts_and_scaling_both_changes_nothing(
    data: list[tuple[float, float]], scale: float
) -> None:
    base, head = [a for a, _ in data], [b for _, b in data]
    forward = compare_paired(base, head, higher_is_worse=True, alpha=0.05)
    backward = compare_paired(head, base, higher_is_worse=True, alpha=0.05)
    assert forward.ratio * backward.ratio == pytest.approx(1.0, rel=1e-9)
    assert forward.p_worse + backward.p_worse == pytest.approx(1.0, abs=1e-9)
    scaled = compare_paired(
        [v * scale for v in base], [v * scale for v in head], higher_is_worse=True, alpha=0.05
    )
    assert scaled.ratio == pytest.approx(forward.ratio, rel=1e-6)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=40))
def test_holm_never_lowers_a_p_value_and_keeps_their_order(p_values: list[float]) -> None:
    adjusted = holm(p_values)
    assert all(q >= p and q <= 1.0 for p, q in zip(p_values, adjusted, strict=True))
    ranked = sorted(zip(p_values, adjusted, strict=True))
    assert all(a[1] <= b[1] for a, b in zip(ranked, ranked[1:], strict=False))


# --- the decision rule in same-run A/B mode, on constructed runs ---

CONFIG = Config.model_validate(
    {
        "app": {"target": "x:app"},
        "endpoints": [{"name": "fast", "path": "/f"}, {"name": "slow", "path": "/s"}],
        "budgets": {"default": {"regression": "10%"}},
    }
)


def _profile(name: str, medians: list[float]) -> EndpointProfile:
    return EndpointProfile(
        name=name, method="GET", path="/", latency_ms=None, trial_medians_ms=medians,
        trial_p95_ms=[m * 1.5 for m in medians], status_codes={"200": 10}, errors={},
        requests=10, error_rate=0.0, bytes_mean=10.0,
    )  # fmt: skip


def _run(profiles: list[EndpointProfile], rps: list[float]) -> RunResult:
    level = LoadLevel(
        concurrency=4, duration_s=1.0, requests=100, rps=sum(rps) / len(rps), success_rate=1.0,
        latency_ms={}, errors={}, status_codes={}, window_rps=[], client_cpu_us_per_request=0,
        endpoints=[], trial_rps=rps,
    )  # fmt: skip
    env = Environment(
        python="3.11", platform="x", cpus=2, gunicorn=None, perfgate="0", git_commit=None
    )
    return RunResult(
        created_at="now", config_digest="d", app="a", environment=env,
        endpoints=profiles, load=[level],
    )  # fmt: skip


NOISY = [1.00, 1.02, 0.99, 1.01, 1.00, 0.98, 1.01, 1.00, 0.99, 1.02]


def test_identical_sides_never_fail_and_a_threefold_slowdown_fails_and_is_blamed() -> None:
    base = _run([_profile("fast", [2 * v for v in NOISY]), _profile("slow", NOISY)], NOISY)
    same = judge(CONFIG, base, None, base_run=base)
    assert same.verdict == "pass"
    assert not any(c.status == "fail" for c in same.checks)

    slowed = [3 * v for v in reversed(NOISY)]
    head = _run([_profile("fast", [2 * v for v in NOISY]), _profile("slow", slowed)], NOISY)
    verdict = judge(CONFIG, head, None, base_run=base)
    assert verdict.verdict == "fail"
    failed = {(c.endpoint, c.metric) for c in verdict.checks if c.status == "fail"}
    assert failed == {("slow", "median"), ("slow", "p95")}
    judged = [c for c in verdict.checks if c.kind == "relative"]
    assert all(c.mde is not None and not c.underpowered for c in judged)


def test_few_noisy_trials_are_marked_underpowered_and_stay_inconclusive() -> None:
    noisy_base = [1.0, 1.4, 0.8]
    noisy_head = [1.3, 1.0, 1.2]
    base = _run([_profile("fast", noisy_base), _profile("slow", noisy_base)], noisy_base)
    head = _run([_profile("fast", noisy_head), _profile("slow", noisy_head)], noisy_head)
    verdict = judge(CONFIG, head, None, base_run=base)
    relative = [c for c in verdict.checks if c.kind == "relative"]
    assert relative and all(c.underpowered for c in relative)
    assert all(c.status == "inconclusive" for c in relative)
    assert verdict.verdict == "inconclusive"
    assert any("underpowered" in note for note in verdict.notes)


# --- the A/B schedule and the merging of short load trials (no processes) ---


def test_balanced_orders_put_each_side_first_equally_often() -> None:
    for count in range(1, 13):
        orders = balanced_orders(count, random.Random(count))
        assert len(orders) == count and set(orders) <= {(0, 1), (1, 0)}
        firsts = [first for first, _ in orders]
        assert abs(firsts.count(0) - firsts.count(1)) <= 1


def test_short_load_trials_merge_into_one_level_with_per_trial_throughput() -> None:
    trials = [level(10, 100.0), level(10, 300.0, errors={"timeout": 4})]
    merged = merge_levels(trials)
    assert merged.trial_rps == [100.0, 300.0]
    assert merged.requests == 400 + 1200
    assert merged.duration_s == 8.0
    assert merged.rps == pytest.approx(1600 / 8)
    assert merged.errors == {"timeout": 4}
    assert merged.endpoints[0].requests == 1600
    # latency points: the median over the trials of each trial's figure
    assert merged.latency_ms["p50"] == pytest.approx(
        (trials[0].latency_ms["p50"] + trials[1].latency_ms["p50"]) / 2
    )


def test_a_check_that_cannot_fail_leaves_the_holm_family_and_is_named_once() -> None:
    # Load throughput in two trial pairs that disagree threefold: with one degree of freedom
    # only a change beyond 10x could be significant. The profile checks stay in the family.
    slowed = [3 * v for v in reversed(NOISY)]
    base = _run([_profile("fast", NOISY), _profile("slow", NOISY)], [100.0, 300.0])
    head = _run([_profile("fast", NOISY), _profile("slow", slowed)], [300.0, 100.0])
    verdict = judge(CONFIG, head, None, base_run=base)
    load = next(c for c in verdict.checks if c.phase == "load" and c.metric == "rps")
    assert load.status == "skipped" and load.message.startswith("cannot fail: only a change beyond")
    assert load.mde is not None and load.underpowered and load.p_value is None
    assert sum("cannot fail here (all @ c=4 rps)" in note for note in verdict.notes) == 1
    # The family is the four profile checks: Holm multiplies the smallest p-value by 4, not 5.
    slow = next(c for c in verdict.checks if c.endpoint == "slow" and c.metric == "median")
    estimate = compare_paired(NOISY, slowed, higher_is_worse=True, alpha=0.05,
                              instance_floor=CONFIG.compare.ab_floor)  # fmt: skip
    assert slow.status == "fail"
    assert slow.p_value == pytest.approx(4 * estimate.p_worse, rel=1e-6)
