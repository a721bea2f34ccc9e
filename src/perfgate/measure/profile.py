"""Sequential samples per endpoint: warm-up, then trials of back-to-back requests.

Each trial visits every endpoint in turn (the order reshuffled per trial), so a slow minute of the
machine touches all endpoints alike instead of landing on one of them. Given several instances of
the app, trials rotate over them, so one process's own speed (it differs by a few percent between
processes of the same code) weighs on a share of the trials, not on all.

In A/B (`profile_pair`) the requests of a trial alternate between the sides one at a time
(AB BA AB ..., the starting side balanced over trials and shuffled), so both halves of a pair are
measured over the same fraction of a second.

Given the instances' sessions (perfgate.measure.login), requests carry each instance's login
values and cookies, an endpoint's `params` rotate sample by sample, a 401 logs in again and is
sent once more, and endpoints' `reset:` commands run before each trial.

With a time budget (`profile.time_budget_s`, or an endpoint's own `time_budget_s`) the warm-up
also measures each endpoint's service time, and an endpoint whose `samples` would take longer
than its budget gets fewer: budget / service time, spread over the same trials (at least
MIN_PER_TRIAL requests each). A 30 ms endpoint then costs what its budget says, not 30 times
what a 1 ms one does; both sides of an A/B get the same count.
"""

from __future__ import annotations

import random
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import count as counter
from urllib.parse import urlsplit

from perfgate.config import Endpoint, ProfileConfig
from perfgate.judge.stats import percentile, summarize_ms
from perfgate.loadgen.aio import run_interruptible
from perfgate.loadgen.client import Connection, ErrorKind, Outcome
from perfgate.loadgen.http1 import Target, build_request
from perfgate.measure.login import Session
from perfgate.results import EndpointProfile, ParamFigures

# The name of the fixed workload of perfgate.run.inapp.reference, profiled beside the endpoints.
REFERENCE_NAME = "(reference)"

# A budgeted endpoint keeps at least this many requests per trial (a trial's p95 needs a few),
# and its service time is taken from at least this many warm-up requests.
MIN_PER_TRIAL = 5
MIN_WARMUP = 3


@dataclass(frozen=True)
class Plan:
    """One endpoint's requests per trial; where a time budget cut them, the budget and the
    warm-up's service time (ms) it was divided by."""

    counts: list[int]
    budget_s: float | None = None
    service_ms: float | None = None


# Per app instance: the endpoints, each with the URL it is requested at.
Bound = list[tuple[Endpoint, str]]
# A measured request: which of the endpoint's concrete requests (its `params` values) it was.
Sent = tuple[int, Outcome]
Trials = dict[str, list[list[Sent]]]


def profile_endpoints(
    urls: Sequence[str],
    endpoints: list[Endpoint],
    config: ProfileConfig,
    seed: int = 0,
    collected: list[EndpointProfile] | None = None,
    reference_urls: Sequence[str] = (),
    sessions: Sequence[Session] = (),
) -> list[EndpointProfile]:
    """Profile every endpoint of the app running at `urls` (instances of the same app: trial t
    goes to instance t mod their number). If this raises (a signal, say), `collected` receives
    the summaries of the trials that finished, so the caller can keep them.

    With `reference_urls` (where the reference workload answers, path included: one per app
    instance), every trial also samples it; its summary comes last, named REFERENCE_NAME.
    `sessions` (one per instance, when given) log in and reset (see the module's docstring)."""
    instances = [[(e, url) for e in endpoints] for url in urls]
    if reference_urls:
        for bound, reference_url in zip(instances, reference_urls, strict=True):
            path = urlsplit(reference_url).path
            bound.append((Endpoint(name=REFERENCE_NAME, path=path), reference_url))
    outcomes: Trials = {e.name: [] for e, _ in instances[0]}
    plans: dict[str, Plan] = {}
    prepared = _Prepared(instances, sessions)
    try:
        run_interruptible(_profile(prepared, config, seed, outcomes, plans))
    except BaseException:
        if collected is not None:
            done = [e for e in endpoints if outcomes[e.name]]
            collected[:] = [summarize_trials(e, outcomes[e.name], plans.get(e.name)) for e in done]
        raise
    count = len(instances)
    return [
        summarize_trials(e, outcomes[e.name], plans[e.name], _rotation(outcomes[e.name], count))
        for e, _ in instances[0]
    ]


def profile_pair(
    urls: Sequence[tuple[str, str]],
    endpoints: list[Endpoint],
    config: ProfileConfig,
    rng: random.Random,
    sessions: Sequence[tuple[Session, Session]] = (),
) -> tuple[list[EndpointProfile], list[EndpointProfile]]:
    """Profile base and head side by side: `urls` holds one (base, head) pair of instances per
    pair of app instances (`sessions` their sessions, when given); trials rotate over the pairs.
    Returns (base, head) profiles."""
    instances = [[(e, url) for e in endpoints] for pair in urls for url in pair]
    prepared = _Prepared(instances, [s for pair in sessions for s in pair])
    base: Trials = {e.name: [] for e in endpoints}
    head: Trials = {e.name: [] for e in endpoints}
    plans: dict[str, Plan] = {}
    run_interruptible(_profile_pair(prepared, endpoints, config, rng, (base, head), plans))
    sides: tuple[list[EndpointProfile], list[EndpointProfile]] = ([], [])
    for e in endpoints:
        pairs_of = _rotation(base[e.name], len(urls))
        # A trial counts only where both sides have a figure: pairs stay aligned.
        both = [
            _answered(e, b) and _answered(e, h)
            for b, h in zip(base[e.name], head[e.name], strict=True)
        ]
        for side, trials in zip(sides, (base, head), strict=True):
            side.append(summarize_trials(e, trials[e.name], plans[e.name], pairs_of, both))
    return sides


class _Prepared:
    """Per app instance, each endpoint's connection and encoded requests (instances that share
    a host and port, such as an app and the reference inside it, share the connection)."""

    def __init__(self, instances: list[Bound], sessions: Sequence[Session]) -> None:
        self.instances = instances
        self.sessions = list(sessions)
        self.connections: dict[Target, Connection] = {}
        self.requests = [self._encoded(i) for i in range(len(instances))]
        self.turns: dict[tuple[int, str], counter[int]] = {}

    def _encoded(self, i: int) -> dict[str, tuple[Connection, list[bytes]]]:
        session = self.sessions[i] if self.sessions else None
        prepared = {}
        for endpoint, url in self.instances[i]:
            target = Target.from_url(url)
            connection = self.connections.setdefault(target, Connection(target))
            own = session and endpoint.name != REFERENCE_NAME
            concrete = session.expand(endpoint) if session and own else endpoint.expand()
            prepared[endpoint.name] = (connection, [build_request(target, c) for c in concrete])
        return prepared

    async def send(self, i: int, endpoint: Endpoint, timeout: float) -> Sent:
        """One request of `endpoint` to instance `i`: its next parameter value; after a 401
        that logged in again, the same request once more."""
        turn = next(self.turns.setdefault((i, endpoint.name), counter()))
        head = endpoint.method == "HEAD"
        connection, raws = self.requests[i][endpoint.name]

        variant = turn % len(raws)
        outcome = await connection.request(raws[variant], timeout, head)
        if self.sessions and self.sessions[i].relogs_on(outcome.status, endpoint):
            self.requests[i] = self._encoded(i)
            connection, raws = self.requests[i][endpoint.name]
            outcome = await connection.request(raws[variant], timeout, head)
        return variant, outcome

    def reset(self, i: int, endpoints: list[Endpoint]) -> None:
        if self.sessions:
            self.sessions[i].reset(endpoints)

    async def warm_up(self, endpoints: list[Endpoint], config: ProfileConfig) -> dict[str, Plan]:
        """Warm every instance up; returns each endpoint's requests per trial, cut to its time
        budget by the service time the warm-up measured (all instances together)."""
        seconds: dict[str, list[float]] = {e.name: [] for e in endpoints}
        for i in range(len(self.requests)):
            for endpoint in endpoints:
                count = config.warmup
                if _budget(endpoint, config) is not None:
                    count = max(count, MIN_WARMUP)
                for _ in range(count):
                    _, done = await self.send(i, endpoint, config.timeout_s)
                    if done.error is None:
                        seconds[endpoint.name].append(done.latency_s)
        return {e.name: plan_samples(e, config, seconds[e.name]) for e in endpoints}

    async def close(self) -> None:
        for connection in self.connections.values():
            await connection.close()


async def _profile(
    prepared: _Prepared,
    config: ProfileConfig,
    seed: int,
    outcomes: Trials,
    plans: dict[str, Plan],
) -> None:
    order = [e for e, _ in prepared.instances[0]]
    count_instances = len(prepared.instances)
    try:
        plans.update(await prepared.warm_up(order, config))
        shuffle = random.Random(seed)
        for t in range(config.trials):
            shuffle.shuffle(order)
            i = t % count_instances
            prepared.reset(i, order)
            for endpoint in order:
                count = plans[endpoint.name].counts[t]
                trial = [await prepared.send(i, endpoint, config.timeout_s) for _ in range(count)]
                outcomes[endpoint.name].append(trial)
    finally:
        await prepared.close()


async def _profile_pair(
    prepared: _Prepared,
    endpoints: list[Endpoint],
    config: ProfileConfig,
    rng: random.Random,
    outcomes: tuple[Trials, Trials],
    plans: dict[str, Plan],
) -> None:
    orders = {e.name: balanced_orders(config.trials, rng) for e in endpoints}
    pairs = len(prepared.instances) // 2
    try:
        # Both sides' warm-ups together give one count per endpoint and trial, for both sides.
        plans.update(await prepared.warm_up(endpoints, config))
        order = list(endpoints)
        for t in range(config.trials):
            rng.shuffle(order)
            j = t % pairs  # trials rotate over the pairs of instances
            sides = (2 * j, 2 * j + 1)
            for i in sides:
                prepared.reset(i, order)
            for endpoint in order:
                blocks: list[list[Sent]] = [[], []]
                # Request by request, alternating AB BA AB ...: both sides of a trial see the
                # same fraction of a second of the machine, so a contention burst hits both.
                first = orders[endpoint.name][t]
                for n in range(plans[endpoint.name].counts[t]):
                    for side in first if n % 2 == 0 else first[::-1]:
                        outcome = await prepared.send(sides[side], endpoint, config.timeout_s)
                        blocks[side].append(outcome)
                for side in (0, 1):
                    outcomes[side][endpoint.name].append(blocks[side])
    finally:
        await prepared.close()


def balanced_orders(count: int, rng: random.Random) -> list[tuple[int, int]]:
    """`count` side orders, half (0, 1) and half (1, 0) (one extra if odd), shuffled."""
    orders = [(0, 1) if i % 2 == 0 else (1, 0) for i in range(count)]
    rng.shuffle(orders)
    return orders


def _budget(endpoint: Endpoint, config: ProfileConfig) -> float | None:
    return endpoint.time_budget_s if endpoint.time_budget_s is not None else config.time_budget_s


def plan_samples(endpoint: Endpoint, config: ProfileConfig, warm: list[float]) -> Plan:
    """Requests per trial: `samples` over the trials, or fewer where they would take longer
    than the endpoint's time budget at the service time (the median of the warm-up requests,
    in seconds in `warm`)."""
    budget = _budget(endpoint, config)
    if budget is None or not warm or statistics.median(warm) <= 0:
        return Plan(split_samples(config.samples, config.trials))
    service = statistics.median(warm)
    fitting = max(int(budget / service), config.trials * MIN_PER_TRIAL)
    if fitting >= config.samples:
        return Plan(split_samples(config.samples, config.trials))
    return Plan(split_samples(fitting, config.trials), budget, round(service * 1000, 3))


def split_samples(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _rotation(trials: list[list[Sent]], instances: int) -> list[int]:
    """The instance each trial ran on: trial t on instance (or pair) t mod their number."""
    return [t % max(instances, 1) for t in range(len(trials))]


def _succeeded(endpoint: Endpoint, outcome: Outcome) -> bool:
    return outcome.error is None and outcome.status in endpoint.expect_status


def _answered(endpoint: Endpoint, trial: list[Sent]) -> bool:
    return any(_succeeded(endpoint, o) for _, o in trial)


def summarize_trials(
    endpoint: Endpoint,
    sent: list[list[Sent]],
    plan: Plan | None = None,
    instance_of: Sequence[int] = (),
    usable: Sequence[bool] = (),
) -> EndpointProfile:
    """One endpoint's profile; a time budget that cut its samples (`plan`) is recorded.
    A trial gives figures when it has a successful request (and is `usable`, where given: in
    A/B, when the other side's trial has one too); `instance_of[t]` is where trial t ran."""

    def succeeded(outcome: Outcome) -> bool:
        return _succeeded(endpoint, outcome)

    trials = [[o for _, o in trial] for trial in sent]
    everything = [o for trial in trials for o in trial]
    ok = [o for o in everything if succeeded(o)]
    errors = Counter((o.error or ErrorKind.STATUS).value for o in everything if not succeeded(o))
    statuses = Counter(str(o.status) for o in everything if o.status is not None)
    good_trials = [[o.latency_s * 1000 for o in t if succeeded(o)] for t in trials]
    kept = [
        t for t, good in enumerate(good_trials) if good and (not usable or usable[t])
    ]  # fmt: skip
    return EndpointProfile(
        name=endpoint.name,
        method=endpoint.method,
        path=endpoint.path,
        latency_ms=summarize_ms([o.latency_s for o in ok]) if ok else None,
        trial_medians_ms=[statistics.median(good_trials[t]) for t in kept],
        trial_p95_ms=[percentile(good_trials[t], 95) for t in kept],
        trial_instance=[instance_of[t] for t in kept] if instance_of else [],
        status_codes=dict(sorted(statuses.items())),
        errors=dict(sorted(errors.items())),
        requests=len(everything),
        error_rate=(len(everything) - len(ok)) / len(everything) if everything else 0.0,
        bytes_mean=statistics.fmean(o.nbytes for o in ok) if ok else 0.0,
        samples_ms=[round(o.latency_s * 1000, 4) for o in ok],
        by_param=_by_param(endpoint, [s for trial in sent for s in trial], succeeded),
        time_budget_s=plan.budget_s if plan else None,
        warmup_ms=plan.service_ms if plan else None,
    )


def _by_param(
    endpoint: Endpoint, sent: list[Sent], succeeded: Callable[[Outcome], bool]
) -> list[ParamFigures]:
    """Each `params` value's own figures (none for an endpoint without params)."""
    figures = []
    for n in range(len(next(iter(endpoint.params.values()), []))):
        outcomes = [o for variant, o in sent if variant == n]
        ms = [o.latency_s * 1000 for o in outcomes if succeeded(o)]
        figures.append(
            ParamFigures(
                value=", ".join(f"{k}={v[n]}" for k, v in endpoint.params.items()),
                requests=len(outcomes),
                median_ms=round(statistics.median(ms), 4) if ms else None,
                p95_ms=round(percentile(ms, 95), 4) if ms else None,
                error_rate=(len(outcomes) - len(ms)) / len(outcomes) if outcomes else 0.0,
            )
        )
    return figures
