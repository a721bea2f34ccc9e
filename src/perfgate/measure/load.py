"""The load phase of a run: each level on one app, or, in A/B, as short trials per side.

Load levels cannot share time the way profile requests do (two loads at once would compete for
the CPU), so in A/B each level runs as several short trials per side in balanced random order
(AB or BA per trial), and a slow minute of the machine lands on both halves of a pair.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

from perfgate.config import Endpoint, LoadConfig
from perfgate.judge.stats import percentile
from perfgate.loadgen.engine import run_level
from perfgate.measure.login import Session
from perfgate.measure.profile import balanced_orders
from perfgate.results import LoadEndpoint, LoadLevel


def load_level_pair(
    pairs: list[tuple[str, str]],
    endpoints: list[Endpoint],
    config: LoadConfig,
    concurrency: int,
    rng: random.Random,
    sessions: Sequence[tuple[Session, Session]] = (),
) -> tuple[LoadLevel, LoadLevel]:
    """One level as `config.trials` short runs per side (on the (base, head) URL pairs, in
    turn) in balanced random order, each side's runs then merged into one level. With the
    pairs' `sessions`, each run's requests carry a login made just before it."""
    trials = max(config.trials, 2)
    # Each short trial is 1/trials of the level, its warm-up too: the app is already warm, the
    # warm-up only lets the new connections settle, and the total stays what the config says.
    short = {"duration_s": config.duration_s / trials, "warmup_s": config.warmup_s / trials}
    one = config.model_copy(update={"concurrency": [concurrency], **short})
    runs: list[list[LoadLevel]] = [[], []]
    for n, order in enumerate(balanced_orders(trials, rng)):
        pair = pairs[n % len(pairs)]
        for side in order:
            session = sessions[n % len(pairs)][side] if sessions else None
            requests = fresh_requests(session, endpoints, reset=n < len(pairs)) if session else None
            runs[side].append(run_level(pair[side], endpoints, one, concurrency, requests=requests))
    return merge_levels(runs[0]), merge_levels(runs[1])


def fresh_requests(
    session: Session, endpoints: list[Endpoint], *, reset: bool = True
) -> list[list[Endpoint]]:
    """Each endpoint's concrete requests for a load run on the session's instance, after the
    endpoints' reset commands (when `reset`) and a fresh login: a load level does not log in
    again on a 401, so its token must outlive the level (docs/configuration.md#login)."""
    if reset:
        session.reset(endpoints)
    session.log_in()
    return [session.expand(e) for e in endpoints]


def merge_levels(trials: list[LoadLevel]) -> LoadLevel:
    """One level from its short trials: counts add up, throughput is over the summed time, and
    latency points are the median over trials (the raw latencies are not kept)."""
    first = trials[0]
    duration = sum(t.duration_s for t in trials)
    requests = sum(t.requests for t in trials)
    good = sum(t.success_rate * t.requests for t in trials)

    def median_points(points: list[dict[str, float]]) -> dict[str, float]:
        keys = sorted({k for p in points for k in p})
        return {k: round(percentile([p[k] for p in points if k in p], 50), 4) for k in keys}

    def added(maps: list[dict[str, int]]) -> dict[str, int]:
        total: Counter[str] = Counter()
        for m in maps:
            total.update(m)
        return dict(sorted(total.items()))

    endpoints = []
    for i, share in enumerate(first.endpoints):
        shares = [t.endpoints[i] for t in trials]
        count = sum(s.requests for s in shares)
        endpoints.append(
            LoadEndpoint(
                name=share.name,
                requests=count,
                errors=sum(s.errors for s in shares),
                rps=round(count / duration, 2) if duration else 0.0,
                latency_ms=median_points([s.latency_ms for s in shares]),
            )
        )
    return LoadLevel(
        concurrency=first.concurrency,
        duration_s=round(duration, 3),
        requests=requests,
        rps=round(requests / duration, 2) if duration else 0.0,
        success_rate=good / requests if requests else 0.0,
        latency_ms=median_points([t.latency_ms for t in trials]),
        errors=added([t.errors for t in trials]),
        status_codes=added([t.status_codes for t in trials]),
        window_rps=[w for t in trials for w in t.window_rps],
        client_cpu_us_per_request=round(
            sum(t.client_cpu_us_per_request * t.requests for t in trials) / requests, 1
        )
        if requests
        else 0.0,
        endpoints=endpoints,
        model=first.model,
        target_rps=first.target_rps,
        dropped=sum(t.dropped for t in trials),
        send_lateness_ms=median_points([t.send_lateness_ms for t in trials]),
        client_cpu_share=max(t.client_cpu_share for t in trials),
        client_limited=any(t.client_limited for t in trials),
        notes=list(dict.fromkeys(n for t in trials for n in t.notes)),
        trial_rps=[t.rps for t in trials],
    )
