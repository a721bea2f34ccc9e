"""Steps in the stored baseline history (perfgate.judge.steps): the detector on synthetic
series, and the segment and notes a stored-mode check gets from a history with a step."""

from __future__ import annotations

import math
import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from perfgate.judge.changepoints import MIN_STEP, find_steps, joint_steps
from perfgate.judge.steps import LOAD_MIN_STEP, history_notes, plan_history
from perfgate.report.history import render_history
from perfgate.results import RunResult
from tests.runs import level as load_level
from tests.runs import profile, run

SEEDS = range(12)


def noisy(rng: random.Random, levels: list[float], spread: float) -> list[float]:
    """A log series: each value its level's log plus normal noise of sd `spread`."""
    return [math.log(level) + rng.gauss(0, spread) for level in levels]


def test_a_ten_percent_step_in_noise_of_three_percent_is_found_where_it_is() -> None:
    found = []
    for seed in SEEDS:
        steps = find_steps(noisy(random.Random(seed), [1.0] * 12 + [1.1] * 8, 0.03))
        assert len(steps) == 1, (seed, steps)
        found.append(steps[0][0])
    # Noise of 3% against a 10% step may move the split by one run, now and then, never more.
    assert all(abs(index - 12) <= 1 for index in found)
    assert found.count(12) >= len(found) - 2


def test_pure_noise_of_a_few_percent_has_no_step() -> None:
    for seed in SEEDS:
        for spread in (0.02, 0.04):
            assert find_steps(noisy(random.Random(seed), [1.0] * 30, spread)) == [], (seed, spread)


def test_a_change_below_the_smallest_step_is_not_called_one_however_clean() -> None:
    # Significant beyond doubt (0.2% noise), but smaller than MIN_STEP: main's noise level.
    small = 1 + MIN_STEP * 0.7
    assert find_steps(noisy(random.Random(1), [1.0] * 10 + [small] * 10, 0.002)) == []
    big = 1 + MIN_STEP * 1.5
    assert [i for i, _ in find_steps(noisy(random.Random(1), [1.0] * 10 + [big] * 10, 0.002))] == [
        10
    ]


def test_two_steps_are_both_found_in_order() -> None:
    for seed in SEEDS[:6]:
        levels = [1.0] * 10 + [1.12] * 10 + [1.25] * 10
        assert [i for i, _ in find_steps(noisy(random.Random(seed), levels, 0.02))] == [10, 20]
    # A step up and back down: two steps too.
    levels = [1.0] * 10 + [1.2] * 10 + [1.0] * 10
    assert [i for i, _ in find_steps(noisy(random.Random(3), levels, 0.02))] == [10, 20]


def test_one_run_out_of_line_is_not_a_step() -> None:
    values = noisy(random.Random(5), [1.0] * 19, 0.02)
    assert find_steps([*values, math.log(1.3)]) == []


def history(levels: list[float], *, hours: float = 6.0, seed: int = 0) -> list[RunResult]:
    """Runs of endpoints `a` (its level per run, 2% noise) and `b` (no change), one commit each,
    `hours` apart; every run measured the same reference, so dividing by it changes nothing."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    runs = []
    for number, level in enumerate(levels):
        a = profile("a", 10.0 * level * math.exp(rng.gauss(0, 0.02)))
        b = profile("b", 4.0 * math.exp(rng.gauss(0, 0.02)))
        base = run([a, b])
        env = base.environment.model_copy(update={"git_commit": f"{number:02d}" + "c" * 38})
        when = (start + timedelta(hours=hours * number)).isoformat()
        reference = profile("__perfgate_reference__", 0.6, path="/__perfgate/reference/v2")
        update = {"environment": env, "created_at": when, "reference": reference}
        runs.append(base.model_copy(update=update))
    return runs


def test_a_check_after_a_step_compares_with_the_runs_since_and_says_why() -> None:
    runs = history([1.0] * 14 + [1.15] * 6)
    plan = plan_history(runs, base_index=19)
    assert [(s.endpoint, s.index) for s in plan.steps] == [("a", 14), ("a", 14)]  # median, p95
    assert (plan.start, plan.end, plan.judged_start) == (14, 20, 14)
    assert plan.judged == runs[14:]
    (note,) = history_notes(plan)
    median = next(s for s in plan.steps if s.metric == "median")
    assert median.change == pytest.approx(0.15, abs=0.03)
    assert note.startswith("main got 1") and "% slower at 14ccccc (2026-11-04)" in note
    assert "a median 10" in note and "-> 11." in note
    assert note.endswith("this check compares with the 6 run(s) since.")


def test_a_check_whose_base_is_before_the_step_compares_with_the_runs_before_it() -> None:
    runs = history([1.0] * 14 + [1.15] * 6)
    plan = plan_history(runs, base_index=9)
    assert (plan.start, plan.end, plan.judged_start) == (0, 14, 4)  # the newest 10 of 14
    (note,) = history_notes(plan)
    assert (
        "after this tree's base commit; this check compares with the newest 10 of the 14 runs "
        in note
    )
    assert note.endswith("before it.")


def test_without_a_step_the_newest_ten_runs_are_judged_and_nothing_is_said() -> None:
    runs = history([1.0] * 25)
    plan = plan_history(runs, base_index=24)
    assert plan.steps == () and plan.judged == runs[15:]
    assert history_notes(plan) == []


def test_a_base_that_cannot_be_placed_gets_the_newest_segment_and_a_note() -> None:
    plan = plan_history(history([1.0] * 8 + [1.3] * 6), base_index=None)
    assert (plan.start, plan.end) == (8, 14)
    assert any("could not be placed" in n and "newest segment" in n for n in history_notes(plan))


def test_a_segment_recorded_within_minutes_is_flagged_as_a_burst() -> None:
    within = plan_history(history([1.0] * 6, hours=0.02), base_index=5)  # 72 s apart: 6 minutes
    (note,) = history_notes(within)
    assert "recorded within 6 minute(s)" in note and "separate pushes" in note
    # 3 minutes apart, 15 minutes in all; and 6 hours apart: not a burst.
    assert history_notes(plan_history(history([1.0] * 6, hours=0.05), base_index=5)) == []
    assert history_notes(plan_history(history([1.0] * 6), base_index=5)) == []


def test_an_endpoint_added_on_the_way_is_searched_over_the_runs_that_have_it() -> None:
    runs = history([1.0] * 20 + [1.2] * 6)
    # `a` only from run 9 on; `b` in every run (no step).
    runs = [
        r
        if n >= 8
        else r.model_copy(update={"endpoints": [p for p in r.endpoints if p.name == "b"]})
        for n, r in enumerate(runs)
    ]
    plan = plan_history(runs, base_index=25)
    assert {(s.endpoint, s.index) for s in plan.steps} == {("a", 20)}
    assert plan.judged == runs[20:]


def with_load(runs: list[RunResult], rps: list[float], seed: int = 0) -> list[RunResult]:
    """The runs with a load level at c=10 of throughput `rps[n]` in run n (2% noise)."""
    rng = random.Random(seed)
    return [
        r.model_copy(update={"load": [load_level(10, value * math.exp(rng.gauss(0, 0.02)))]})
        for r, value in zip(runs, rps, strict=True)
    ]


def test_a_drop_of_throughput_on_main_is_shown_as_a_step_but_does_not_cut_the_history() -> None:
    # The profile unchanged; from run 15 on the load level answers 30% fewer requests a second.
    runs = with_load(history([1.0] * 20), [1000.0] * 14 + [700.0] * 6)
    plan = plan_history(runs, base_index=19)
    (step,) = plan.steps
    assert (step.endpoint, step.metric, step.index, step.unit) == ("all @ c=10", "rps", 14, "rps")
    assert step.change == pytest.approx(1 / 0.7 - 1, abs=0.03)  # in time per request
    assert not step.cuts and (plan.start, plan.end) == (0, 20) and history_notes(plan) == []
    assert re.fullmatch(r"all @ c=10 throughput (99\d|100\d) -> (69\d|70\d) rps", step.figures())
    shown = render_history(plan, Path("baseline.json"))
    assert re.search(r"all @ c=10 rps +\+4\d\.\d% at run 15, 14ccccc .*: \d+ -> \d+ rps", shown)
    assert "shown, not cut at" in shown
    # More throughput is a step too (faster); a drop smaller than LOAD_MIN_STEP is none.
    faster = plan_history(with_load(history([1.0] * 20), [700.0] * 14 + [1000.0] * 6), 19)
    assert [round(s.change, 1) for s in faster.steps] == [-0.3]
    small = 1 / (1 + LOAD_MIN_STEP * 0.8)
    assert (
        plan_history(with_load(history([1.0] * 20), [1000.0] * 14 + [1000 * small] * 6), 19).steps
        == ()
    )
    # Beside a step of an endpoint, only the endpoint's cuts: the same segment as without load.
    both = with_load(history([1.0] * 10 + [1.15] * 10), [1000.0] * 14 + [700.0] * 6)
    plan = plan_history(both, base_index=19)
    assert (plan.start, plan.end) == (10, 20)
    assert {(s.endpoint, s.index) for s in plan.steps} == {("a", 10), ("all @ c=10", 14)}


def family(rng: random.Random, runs: int, spread: float, members: int = 10) -> list[list[float]]:
    return [noisy(rng, [1.0] * runs, spread) for _ in range(members)]


def test_many_series_of_unchanged_code_are_judged_as_one_family_with_no_step() -> None:
    # Each of ten noise series alone is tested at the level: some history gets a false step
    # that way; tested as one family, none does.
    histories = [family(random.Random(seed), 20, 0.05) for seed in range(20)]
    assert any(find_steps(series) for history in histories for series in history)
    for seed, history in enumerate(histories):
        assert joint_steps([dict(enumerate(series)) for series in history]) == [], seed


def test_a_step_of_one_series_among_ten_is_found_at_its_run_and_blamed_on_it() -> None:
    others = 0
    for seed in SEEDS[:6]:
        history = family(random.Random(seed), 20, 0.03)
        history[3] = [v + math.log(1.15) * (i >= 14) for i, v in enumerate(history[3])]
        cuts = dict(joint_steps([dict(enumerate(series)) for series in history]))
        assert set(cuts.get(14, {})) == {3}, (seed, cuts)
        others += len(cuts) - 1
    # Each side of the cut is searched again at the level: now and then noise is cut there.
    assert others <= 1
