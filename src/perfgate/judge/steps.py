"""Steps in the stored baseline history: where main's own performance changed, and which runs a
stored-mode check should be compared with.

The history holds one run per push to main, so its runs are of different commits. A change
merged to main moves every later run; an equal-weight mean over the history then sits between
the old and the new level, and the next pull requests are blamed for main's change (and the
step inflates the run-to-run spread, so their checks turn inconclusive as well). So the history
is cut into segments at its steps, and a check uses the segment that holds its base commit.

The detector (judge.changepoints) is binary segmentation on the log of each run's typical figure
(the geometric mean of its trial medians, or of its trial p95s, per endpoint and metric; per load
level, of its throughput windows, on the scale of time per request so that a step up is slower
there too): the split with the largest two-sample t statistic (its spread from the differences of
successive runs), kept when a permutation test finds it significant (the runs' order shuffled:
under "no step" any order is as likely) AND the two levels differ by at least MIN_STEP, so that
the few percent runs drift apart on unchanged code is never called a step. Then each side is
searched again. The endpoints' series are tested as one family (joint_steps): a history of many
endpoints would otherwise get a false step in one of them most of the time, and the history is
cut where any of them steps. Profile figures of runs that measured perfgate's reference workload
are divided by it first, so that a slow host on the day of one push is not read as a step of the
code; load throughput is not (the reference is sampled in the profile phase, and the load phase
comes after it). Undivided, throughput moves with the host's state by far more, so its steps
must be larger (LOAD_MIN_STEP), each level is searched on its own, and its steps are shown, not
cut at.

Why not a library: E-divisive (Hunter / Apache Otava, MongoDB's signal-processing-algorithms)
and asv's step detection come inside tools with their own dependencies and storage; what a
history of at most BASELINE_HISTORY runs needs is this one test, on a series this short.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from statistics import geometric_mean

from perfgate.judge.changepoints import MIN_SEGMENT, MIN_STEP, find_steps, joint_steps
from perfgate.judge.pairs import positive_rps
from perfgate.results import EndpointProfile, RunResult

# The smallest step of a load level's throughput (changepoints.MIN_STEP for the endpoints'
# figures), which the reference does not divide: undivided, runs
# of unchanged code here spread by about 15% and a host flips between states up to 2x apart, so
# a smaller step is as likely the host's. The stored load checks assume a 25% between-run spread
# (compare.noise_floor) for the same reason. Throughput steps are shown (perfgate history), but
# do not cut the history: a slow spell of the host must not shorten every endpoint's history.
LOAD_MIN_STEP = 0.25
# The runs a check is compared with: the newest of its segment, at most this many.
JUDGED_RUNS = 10
# A segment whose runs were all recorded within this many minutes was recorded in a burst.
BURST_MINUTES = 10
METRICS = ("median", "p95")


def cuts_history(unit: str) -> bool:
    """Whether steps of figures in `unit` cut the history: profile figures' (ms) do, load
    throughput's (rps) are shown only (LOAD_MIN_STEP says why)."""
    return unit != "rps"


@dataclass(frozen=True)
class Step:
    """Main's level of one endpoint and metric (or load level and "rps") changed at run `index`
    of the history (the first run of the new level). `change` is new/old - 1 of the detector's
    series, in time per request (host-adjusted when the runs measured the reference; for
    throughput, old rps / new rps - 1); `before` and `after` are the typical figures of the runs
    on each side, as measured, in `unit`."""

    endpoint: str
    metric: str
    index: int
    commit: str | None
    created_at: str
    change: float
    before: float
    after: float
    p_value: float
    unit: str = "ms"

    @property
    def cuts(self) -> bool:
        """Whether the history is cut at this step: profile figures are, throughput is not."""
        return cuts_history(self.unit)

    def figures(self) -> str:
        """`items median 10.2 ms -> 11.1 ms`, `all @ c=50 throughput 812 -> 650 rps`."""
        metric = "throughput" if self.unit == "rps" else self.metric
        return f"{self.endpoint} {metric} {self.span()}"

    def span(self) -> str:
        """`10.2 ms -> 11.1 ms`, `812 -> 650 rps`."""
        before, after = (f"{v:.0f}" if v >= 100 else f"{v:.3g}" for v in (self.before, self.after))
        return f"{before} -> {after} rps" if self.unit == "rps" else f"{before} ms -> {after} ms"


@dataclass(frozen=True)
class Series:
    """One figure's history: its label (endpoint, or load level), metric, unit, the indexes of
    the runs that measured it, their typical figures as measured, and the detector's series
    (logs of time per request, divided by the reference where that applies)."""

    endpoint: str
    metric: str
    unit: str
    where: list[int]
    measured: list[float]
    values: list[float]
    least_step: float = MIN_STEP

    @property
    def cuts(self) -> bool:
        """Whether its steps cut the history (cuts_history)."""
        return cuts_history(self.unit)


@dataclass(frozen=True)
class HistoryPlan:
    """The steps of a history and the runs a check uses: `runs[judged_start:end]`, the newest
    JUDGED_RUNS of the segment `runs[start:end]` that holds run `base_index` (the newest run of
    the check's base commit or an ancestor of it; None when it could not be placed, and then
    the newest segment is used)."""

    runs: tuple[RunResult, ...]
    steps: tuple[Step, ...]
    start: int
    end: int
    judged_start: int
    base_index: int | None

    @property
    def judged(self) -> list[RunResult]:
        return list(self.runs[self.judged_start : self.end])

    @property
    def cut_by(self) -> list[Step]:
        """The steps at the start of the segment: the change this check is compared after."""
        return [s for s in self.steps if s.cuts and s.index == self.start and self.start > 0]

    @property
    def after(self) -> list[Step]:
        """Steps after the segment: main changed after this check's base."""
        return [s for s in self.steps if s.cuts and s.index == self.end]


def history_series(runs: Sequence[RunResult]) -> list[Series]:
    """Every figure the detector searches: each endpoint's median and p95, then each load
    level's throughput. One that only some runs measured (an endpoint added or renamed on the
    way, a level added) is searched over those runs."""
    divide = bool(runs) and all(r.reference for r in runs)
    divide = divide and len({r.reference.path for r in runs if r.reference}) == 1
    found: list[Series] = []
    for name in sorted({p.name for r in runs for p in r.endpoints}):
        for metric in METRICS:
            figures = [(i, _typical(_profile(r, name), metric)) for i, r in enumerate(runs)]
            where = [i for i, v in figures if v is not None]
            measured = [v for _, v in figures if v is not None]
            values = [math.log(v) for v in measured]
            if divide:
                hosts = [_typical(runs[i].reference, metric) or 1.0 for i in where]
                values = [v - math.log(h) for v, h in zip(values, hosts, strict=True)]
            found.append(Series(name, metric, "ms", where, measured, values))
    for c in sorted({lv.concurrency for r in runs for lv in r.load}):
        figures = [(i, _throughput(r, c)) for i, r in enumerate(runs)]
        where = [i for i, v in figures if v is not None]
        measured = [v for _, v in figures if v is not None]
        values = [-math.log(v) for v in measured]
        found.append(Series(f"all @ c={c}", "rps", "rps", where, measured, values, LOAD_MIN_STEP))
    return found


def history_steps(runs: Sequence[RunResult]) -> list[Step]:
    """Every step of the history, oldest first: the endpoints' figures (history_series) searched
    as one family (joint_steps), each load level's throughput on its own (its steps are shown,
    not cut at, and a level's host spells are its own)."""
    every = history_series(runs)
    profile = [s for s in every if s.cuts]
    families = [
        (profile, joint_steps([dict(zip(s.where, s.values, strict=True)) for s in profile]))
    ]
    for series in (s for s in every if not s.cuts):
        found = find_steps(series.values, series.least_step)
        families.append(([series], [(series.where[k], {0: p}) for k, p in found]))
    steps = []
    for family, cuts in families:
        bounds = [0, *(cut for cut, _ in cuts), len(runs)]
        for number, (cut, stepped) in enumerate(cuts):
            for member, p_value in stepped.items():
                steps.append(_step(runs, family[member], bounds[number], cut,
                                   bounds[number + 2], p_value))  # fmt: skip
    return sorted(steps, key=lambda s: (s.index, s.endpoint, s.metric))


def _step(
    runs: Sequence[RunResult], series: Series, start: int, cut: int, end: int, p_value: float
) -> Step:
    """The step of `series` at run `cut`, its levels from the runs since the previous cut and
    until the next."""
    before = [n for n, r in enumerate(series.where) if start <= r < cut]
    after = [n for n, r in enumerate(series.where) if cut <= r < end]
    ratio = math.exp(
        _mean([series.values[n] for n in after]) - _mean([series.values[n] for n in before])
    )
    run = runs[cut]
    return Step(
        series.endpoint, series.metric, cut, run.environment.git_commit, run.created_at,
        ratio - 1, geometric_mean([series.measured[n] for n in before]),
        geometric_mean([series.measured[n] for n in after]), p_value, series.unit,
    )  # fmt: skip


def plan_history(runs: Sequence[RunResult], base_index: int | None) -> HistoryPlan:
    """The segment holding run `base_index` (the newest segment when None), cut at the steps
    of any endpoint and metric (throughput steps are kept, not cut at). Cuts closer than
    MIN_SEGMENT runs are one step seen a run apart by two series (a median and a p95): the
    later one stands for both."""
    steps = history_steps(runs)
    cuts: list[int] = []
    for index in sorted({s.index for s in steps if s.cuts}):
        if cuts and index - cuts[-1] < MIN_SEGMENT:
            cuts[-1] = index
        else:
            cuts.append(index)
    merged = {s.index: next(c for c in cuts if c >= s.index) for s in steps if s.cuts}
    steps = [_moved(s, merged[s.index], runs) if s.cuts else s for s in steps]
    base = len(runs) - 1 if base_index is None else base_index
    start = max([0, *(c for c in cuts if c <= base)])
    end = min([len(runs), *(c for c in cuts if c > base)])
    judged_start = max(start, end - JUDGED_RUNS)
    return HistoryPlan(tuple(runs), tuple(steps), start, end, judged_start, base_index)


def _moved(step: Step, index: int, runs: Sequence[RunResult]) -> Step:
    if index == step.index:
        return step
    run = runs[index]
    return replace(step, index=index, commit=run.environment.git_commit, created_at=run.created_at)


def history_notes(plan: HistoryPlan) -> list[str]:
    """What the report says about the history a stored-mode check used."""
    notes = []
    since = len(plan.judged)
    segment = plan.end - plan.start
    runs = (
        f"the {since} run(s)" if since == segment else f"the newest {since} of the {segment} runs"
    )
    if plan.cut_by:
        notes.append(f"{_main_changed(plan.cut_by)}; this check compares with {runs} since.")
    if plan.after:
        notes.append(
            f"{_main_changed(plan.after)}, after this tree's base commit; this check compares "
            f"with {runs} before it."
        )
    if plan.base_index is None and plan.steps:
        notes.append(
            "The baseline history has steps, but this tree's base commit could not be placed "
            "among its runs (no git, a shallow clone, or runs without a commit): compared with "
            "the newest segment."
        )
    minutes = burst_minutes(plan.judged)
    if minutes is not None:
        notes.append(
            f"The {since} baseline runs compared with were recorded within {minutes} minute(s): "
            "the run-to-run spread they show is smaller than a later run's, since adjacent runs "
            "resemble each other; record baselines on separate pushes to main."
        )
    return notes


def _main_changed(steps: Sequence[Step]) -> str:
    """`main got 9% slower at abc1234 (2026-11-30): items median 10.2 ms -> 11.1 ms, ...`."""
    first = max(steps, key=lambda s: abs(s.change))
    way = "slower" if first.change > 0 else "faster"
    # In the terms a developer uses: 9% slower, 2.5x slower, 20% faster (time per request).
    ratio = 1 + first.change if first.change > 0 else 1 / (1 + first.change)
    size = f"{ratio:.1f}x" if ratio >= 2 else f"{ratio - 1:.0%}"
    figures = ", ".join(s.figures() for s in steps)
    return f"main got {size} {way} at {short(first.commit)} ({first.created_at[:10]}): {figures}"


def burst_minutes(runs: Sequence[RunResult]) -> int | None:
    """The span in whole minutes (at least 1) of runs all recorded within BURST_MINUTES of each
    other; None when they span more, or are too few to show a spread (fewer than 3)."""
    if len(runs) < 3:
        return None
    try:
        times = [datetime.fromisoformat(r.created_at) for r in runs]
    except ValueError:
        return None
    span = (max(times) - min(times)).total_seconds() / 60
    return max(1, math.ceil(span)) if span <= BURST_MINUTES else None


def short(commit: str | None) -> str:
    return commit[:7] if commit else "an unknown commit"


def _profile(run: RunResult, name: str) -> EndpointProfile | None:
    return next((p for p in run.endpoints if p.name == name), None)


def _throughput(run: RunResult, concurrency: int) -> float | None:
    """The level's typical throughput: the geometric mean of its one-second windows (a window
    with no completed request counted as half a request, as the gate counts it)."""
    level = next((lv for lv in run.load if lv.concurrency == concurrency), None)
    if level is None or not level.window_rps:
        return None
    return geometric_mean(positive_rps(level.window_rps))


def _typical(profile: EndpointProfile | None, metric: str) -> float | None:
    if profile is None:
        return None
    figures = [
        v
        for v in (profile.trial_medians_ms if metric == "median" else profile.trial_p95_ms)
        if v > 0
    ]
    return geometric_mean(figures) if figures else None


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)
