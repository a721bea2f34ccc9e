"""Stored-baseline mode divides profile figures by the reference workload of the same run."""

from __future__ import annotations

import random
import re

import pytest

from perfgate.config import Config
from perfgate.judge.gate import judge
from perfgate.judge.hostspeed import elasticity
from perfgate.results import BaselineFile, Check, EndpointProfile, RunResult
from perfgate.run.inapp.reference import IN_APP_PATH, OWN_APP_PATH
from tests.runs import profile, run


def config() -> Config:
    return Config.model_validate({
        "app": {"target": "x:app"},
        "endpoints": [{"name": "a", "path": "/a"}, {"name": "b", "path": "/b"}],
        "budgets": {"default": {"regression": 0.05}},
    })  # fmt: skip


def trials(value: float, rng: random.Random, n: int = 10, noise: float = 0.02) -> list[float]:
    return [value * rng.lognormvariate(0, noise) for _ in range(n)]


def measured(
    host: float,
    rng: random.Random,
    slower_b: float = 1.0,
    tail: float = 1.0,
    tail_b: float = 1.0,
    elastic_b: float = 1.0,
) -> RunResult:
    """A run on a host `host` times slower than usual whose slow moments lengthen every tail
    `tail` times; endpoint b's code `slower_b` slower, and its tail alone `tail_b` longer. Endpoint
    b slows down `elastic_b` percent per percent the host (and the reference) does."""

    def endpoint(
        name: str, ms: float, own_tail: float = 1.0, elastic: float = 1.0
    ) -> EndpointProfile:
        medians = trials(ms * host**elastic, rng)
        p95s = [m * 1.5 * tail * own_tail for m in medians]
        return profile(name, ms * host).model_copy(
            update={"trial_medians_ms": medians, "trial_p95_ms": p95s}
        )

    medians = trials(0.8 * host, rng, noise=0.01)
    reference = profile("(reference)", 0.8 * host, path=IN_APP_PATH).model_copy(
        update={"trial_medians_ms": medians, "trial_p95_ms": [m * 1.2 * tail for m in medians]}
    )
    measured = run([endpoint("a", 2.0), endpoint("b", 3.0 * slower_b, tail_b, elastic_b)])
    return measured.model_copy(update={"reference": reference})


def history(rng: random.Random) -> BaselineFile:
    # Recorded on a host that changed speed from run to run, by up to 30%.
    return BaselineFile(runs=[measured(h, rng) for h in (1.0, 1.3, 0.9, 1.1, 1.2)])


def test_a_host_much_slower_than_at_baseline_time_is_not_a_regression() -> None:
    rng = random.Random(1)
    verdict = judge(config(), measured(1.6, rng), history(rng))
    relative = [c for c in verdict.checks if c.kind == "relative"]
    assert len(relative) == 4 and not any(c.status == "fail" for c in relative)
    assert all(c.change is not None and abs(c.change) < 0.05 for c in relative)
    note = next(n for n in verdict.notes if n.startswith("Host speed"))
    assert "slower than in the baseline runs" in note
    # The report shows milliseconds as measured, not the divided figures.
    a = next(c for c in relative if c.endpoint == "a" and c.metric == "median")
    assert a.current is not None and a.baseline is not None and a.current > a.baseline * 1.3


def test_a_real_regression_is_found_on_a_slower_host_and_blamed_on_its_endpoint() -> None:
    rng = random.Random(2)
    verdict = judge(config(), measured(1.4, rng, slower_b=1.3), history(rng))
    failed = {(c.endpoint, c.metric) for c in verdict.checks if c.status == "fail"}
    assert failed == {("b", "median"), ("b", "p95")}


def test_a_spell_that_lengthens_every_tail_is_divided_out_of_the_p95_checks() -> None:
    # The host's slow moments stretch the reference's tail as much as the endpoints' tails,
    # while its median stays put: dividing p95 by the reference's median would read +30%.
    rng = random.Random(5)
    verdict = judge(config(), measured(1.0, rng, tail=1.3), history(rng))
    p95 = [c for c in verdict.checks if c.kind == "relative" and c.metric == "p95"]
    assert len(p95) == 2 and not any(c.status == "fail" for c in p95)
    assert all(c.change is not None and abs(c.change) < 0.05 for c in p95)
    # What the report shows is still the milliseconds measured: the tails did get longer.
    assert all(c.current and c.baseline and c.current > c.baseline * 1.1 for c in p95)


def test_a_longer_tail_of_one_endpoint_alone_is_its_regression() -> None:
    rng = random.Random(6)
    verdict = judge(config(), measured(1.1, rng, tail_b=1.3), history(rng))
    failed = {(c.endpoint, c.metric) for c in verdict.checks if c.status == "fail"}
    assert failed == {("b", "p95")}


def test_several_endpoints_slower_at_once_get_a_note_that_says_how_to_confirm() -> None:
    rng = random.Random(4)
    current = measured(1.0, rng, slower_b=1.3)
    both = current.model_copy(
        update={
            "endpoints": [
                e.model_copy(update={"trial_medians_ms": [v * 1.3 for v in e.trial_medians_ms]})
                if e.name == "a"
                else e
                for e in current.endpoints
            ]
        }
    )
    verdict = judge(config(), both, history(rng))
    failed = {c.endpoint for c in verdict.checks if c.status == "fail" and c.metric == "median"}
    assert failed == {"a", "b"}
    note = next(n for n in verdict.notes if "endpoints got slower at once" in n)
    assert note.startswith("2 endpoints") and "check --against" in note


def b_medians(verdict_checks: list[Check]) -> Check:
    return next(c for c in verdict_checks if c.endpoint == "b" and c.metric == "median")


# Endpoint b slows down 1.5 times as much as the host (as the example's heavy endpoints did in
# the bench); the baseline runs were recorded on a host of steady speed, so they cannot show it.
STEADY = (1.0,) * 10


def test_a_slow_host_does_not_fail_an_endpoint_following_it_more_than_the_reference() -> None:
    rng = random.Random(4)
    history = BaselineFile(runs=[measured(h, rng, elastic_b=1.5) for h in STEADY])
    current = measured(1.3, rng, elastic_b=1.5)
    b = b_medians(judge(config(), current, history).checks)
    # Divided by the reference alone, b reads about +14%: the history cannot say how b follows
    # the host, so the interval is widened by that doubt instead of failing unchanged code.
    assert b.change is not None and b.change > 0.1
    assert b.status == "inconclusive"
    # The same gate without the doubt about b's elasticity would have failed it.
    assert b.ci_low is not None and b.ci_low < 0.05


def test_on_a_much_slower_host_a_real_regression_still_fails() -> None:
    rng = random.Random(4)
    history = BaselineFile(runs=[measured(h, rng, elastic_b=1.5) for h in STEADY])
    current = measured(1.3, rng, slower_b=1.4, elastic_b=1.5)
    assert b_medians(judge(config(), current, history).checks).status == "fail"


def test_an_elasticity_the_history_shows_is_learned() -> None:
    # Baseline runs on a host that changed speed by up to 30% show how b follows it: on a slow
    # host an unchanged b reads near 0% and passes, and +20% of b's own work fails.
    rng = random.Random(5)
    hosts = (1.0, 1.3, 0.9, 1.1, 1.2, 0.95, 1.25, 1.05, 0.92, 1.15)
    history = BaselineFile(runs=[measured(h, rng, elastic_b=1.5) for h in hosts])
    verdict = judge(config(), measured(1.3, rng, elastic_b=1.5), history)
    unchanged = b_medians(verdict.checks)
    assert unchanged.change is not None and abs(unchanged.change) < 0.04
    assert unchanged.status == "pass"
    # The report says how much each endpoint followed the reference.
    note = next(n for n in verdict.notes if n.startswith("Elasticity to the reference"))
    slopes = dict(re.findall(r"\b([ab]) (\d+\.\d\d)", note))
    assert float(slopes["a"]) == pytest.approx(1.0, abs=0.1)
    assert float(slopes["b"]) == pytest.approx(1.5, abs=0.1)
    slower = measured(1.3, rng, slower_b=1.2, elastic_b=1.5)
    assert b_medians(judge(config(), slower, history).checks).status == "fail"


def test_the_fitted_elasticity_is_shrunk_toward_one_as_far_as_the_history_is_unsure() -> None:
    hosts = [0.0, 0.1, 0.2, 0.3]
    exact = elasticity(hosts, [1.5 * x for x in hosts])
    assert exact.slope == pytest.approx(1.5) and exact.variance == pytest.approx(0, abs=1e-12)
    noise = (0.05, -0.05, -0.05, 0.05)
    noisy = elasticity(hosts, [1.5 * x + e for x, e in zip(hosts, noise, strict=True)])
    assert 1.0 < noisy.slope < 1.5 and 0 < noisy.variance < 0.35**2
    assert elasticity(hosts[:2], [0.0, 0.3]) == elasticity([0.1] * 5, [0.0] * 5)
    assert elasticity([0.1] * 5, [0.0] * 5).slope == 1.0


def test_one_endpoint_slower_gets_no_such_note() -> None:
    rng = random.Random(2)
    verdict = judge(config(), measured(1.4, rng, slower_b=1.3), history(rng))
    assert not any("endpoints got slower at once" in n for n in verdict.notes)


def test_without_the_reference_the_same_host_change_is_only_inconclusive() -> None:
    rng = random.Random(1)
    current = measured(1.6, rng).model_copy(update={"reference": None})
    verdict = judge(config(), current, history(rng))
    relative = [c for c in verdict.checks if c.kind == "relative"]
    assert not any(n.startswith("Host speed") for n in verdict.notes)
    # The host's 1.6x shows as a change of the code; only the wide assumed drift keeps it from
    # failing.
    assert all(c.change is not None and c.change > 0.3 for c in relative)
    assert {c.status for c in relative} == {"inconclusive"}


@pytest.mark.parametrize(
    ("baseline_path", "why"),
    [
        # The baseline sampled the reference as an app of its own, this run inside the app's
        # workers: the two latencies are not the same workload's.
        (OWN_APP_PATH, "measured another way"),
        # perfgate's first reference (arithmetic only, at a path without a version): another
        # workload, which moves with the host by another amount.
        ("/__perfgate/reference", "an earlier version of the work"),
    ],
)
def test_a_baseline_reference_unlike_this_runs_is_not_divided_by_and_the_report_says_so(
    baseline_path: str, why: str
) -> None:
    rng = random.Random(1)
    current = measured(1.6, rng)
    baseline = history(rng)
    older = [r.model_copy(update={"reference": at_path(r, baseline_path)}) for r in baseline.runs]
    verdict = judge(config(), current, BaselineFile(runs=older))
    assert not any(n.startswith("Host speed") for n in verdict.notes), why
    assert any("compared undivided" in n for n in verdict.notes)
    relative = [c for c in verdict.checks if c.kind == "relative"]
    assert all(c.change is not None and c.change > 0.3 for c in relative)
    # The same runs with the reference at this run's path are divided by it.
    assert any(n.startswith("Host speed") for n in judge(config(), current, baseline).notes)


def at_path(run: RunResult, path: str) -> EndpointProfile:
    assert run.reference is not None
    return run.reference.model_copy(update={"path": path})


def test_a_change_so_clear_that_its_p_value_is_zero_still_fails() -> None:
    # 40x slower, 2% noise, a tiny assumed drift and a single baseline run (normal
    # distribution): the p-value underflows to exactly 0.0, which must read as "significant",
    # not as "no p-value".
    rng = random.Random(3)
    tight = config().model_copy(update={"compare": config().compare.model_copy(update={
        "noise_floor": 0.001, "reference": False})})  # fmt: skip
    current = measured(1.0, rng, slower_b=40).model_copy(update={"reference": None})
    baseline = measured(1.0, rng).model_copy(update={"reference": None})
    verdict = judge(tight, current, BaselineFile(runs=[baseline]))
    median = next(c for c in verdict.checks if c.endpoint == "b" and c.metric == "median")
    assert median.p_value == 0.0 and median.status == "fail"


def test_a_cost_every_request_pays_is_not_divided_away_when_the_reference_left_its_range() -> None:
    # A change the whole process pays (a heavier heap, a background thread) slows the reference
    # as much as the endpoints. Divided by it, every change would read 0 and pass; the reference
    # is far outside what its steady history predicts, so nothing is divided and nothing passes.
    rng = random.Random(8)
    history = BaselineFile(runs=[measured(h, rng) for h in STEADY])
    verdict = judge(config(), measured(1.25, rng), history)
    relative = [c for c in verdict.checks if c.kind == "relative" and c.phase == "profile"]
    assert relative and all(c.status == "inconclusive" for c in relative)
    assert all(c.change is not None and 0.15 < c.change < 0.35 for c in relative)
    note = next(n for n in verdict.notes if n.startswith("Host or process changed"))
    assert "outside what its 10 baseline runs predict" in note and "--against" in note
    assert not any(n.startswith("Host speed") for n in verdict.notes)
    # Within its history's range, the same kind of run is divided as before.
    calm = judge(config(), measured(1.0, rng), history)
    assert any(n.startswith("Host speed") for n in calm.notes)
