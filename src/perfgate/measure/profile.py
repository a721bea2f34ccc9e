"""Sequential samples per endpoint: warm-up, then trials of back-to-back requests.

Each trial visits every endpoint in turn (the order reshuffled per trial with a fixed seed), so
a slow minute of the machine touches all endpoints alike instead of landing on one of them.
Given several instances of the app, trials rotate over them, so one process's own speed (it
differs by a few percent between processes of the same code) weighs on a third of the trials,
not on all.
"""

from __future__ import annotations

import random
import statistics
from collections import Counter
from collections.abc import Sequence
from urllib.parse import urlsplit

from perfgate.config import Endpoint, ProfileConfig
from perfgate.judge.stats import percentile, summarize_ms
from perfgate.loadgen.client import (
    Connection,
    ErrorKind,
    Outcome,
    Target,
    build_request,
    run_interruptible,
)
from perfgate.results import EndpointProfile

# The name of the fixed workload of perfgate.reference, profiled beside the endpoints.
REFERENCE_NAME = "(reference)"


def profile_endpoints(
    urls: Sequence[str],
    endpoints: list[Endpoint],
    config: ProfileConfig,
    seed: int = 0,
    collected: list[EndpointProfile] | None = None,
    reference_urls: Sequence[str] = (),
) -> list[EndpointProfile]:
    """Profile every endpoint of the app running at `urls` (instances of the same app: trial t
    goes to instance t mod their number). If this raises (a signal, say), `collected` receives
    the summaries of the trials that finished, so the caller can keep them.

    With `reference_urls` (where perfgate.run.inapp.reference answers, path included: one per app
    instance), every trial also samples the reference workload; its summary comes last, named
    REFERENCE_NAME."""
    instances = [[(e, url) for e in endpoints] for url in urls]
    if reference_urls:
        for bound, reference_url in zip(instances, reference_urls, strict=True):
            path = urlsplit(reference_url).path
            bound.append((Endpoint(name=REFERENCE_NAME, path=path), reference_url))
    names = [e.name for e, _ in instances[0]]
    outcomes: dict[str, list[list[Outcome]]] = {name: [] for name in names}
    try:
        return run_interruptible(_profile(instances, config, seed, outcomes))
    except BaseException:
        if collected is not None:
            done = [e for e in endpoints if outcomes[e.name]]
            collected[:] = [summarize_trials(e, outcomes[e.name]) for e in done]
        raise


async def _profile(
    instances: list[list[tuple[Endpoint, str]]],
    config: ProfileConfig,
    seed: int,
    outcomes: dict[str, list[list[Outcome]]],
) -> list[EndpointProfile]:
    connections: dict[Target, Connection] = {}
    # Per instance: each endpoint's connection and encoded request.
    requests: list[dict[str, tuple[Connection, bytes]]] = []
    for bound in instances:
        prepared = {}
        for endpoint, url in bound:
            target = Target.from_url(url)
            if target not in connections:
                connections[target] = Connection(target)
            connection = connections[target]
            prepared[endpoint.name] = (connection, build_request(connection.target, endpoint))
        requests.append(prepared)
    order = [e for e, _ in instances[0]]
    try:
        for prepared in requests:
            for endpoint in order:
                connection, raw = prepared[endpoint.name]
                for _ in range(config.warmup):
                    await connection.request(raw, config.timeout_s, endpoint.method == "HEAD")
        shuffle = random.Random(seed)
        per_trial = split_samples(config.samples, config.trials)
        for t, count in enumerate(per_trial):
            shuffle.shuffle(order)
            prepared = requests[t % len(requests)]
            for endpoint in order:
                (connection, raw), head = prepared[endpoint.name], endpoint.method == "HEAD"
                trial = [
                    await connection.request(raw, config.timeout_s, head) for _ in range(count)
                ]
                outcomes[endpoint.name].append(trial)
    finally:
        for connection in connections.values():
            await connection.close()
    return [summarize_trials(e, outcomes[e.name]) for e, _ in instances[0]]


def split_samples(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def summarize_trials(endpoint: Endpoint, trials: list[list[Outcome]]) -> EndpointProfile:
    def succeeded(outcome: Outcome) -> bool:
        return outcome.error is None and outcome.status in endpoint.expect_status

    everything = [o for trial in trials for o in trial]
    ok = [o for o in everything if succeeded(o)]
    errors = Counter((o.error or ErrorKind.STATUS).value for o in everything if not succeeded(o))
    statuses = Counter(str(o.status) for o in everything if o.status is not None)
    good_trials = [[o.latency_s * 1000 for o in t if succeeded(o)] for t in trials]
    return EndpointProfile(
        name=endpoint.name,
        method=endpoint.method,
        path=endpoint.path,
        latency_ms=summarize_ms([o.latency_s for o in ok]) if ok else None,
        trial_medians_ms=[statistics.median(t) for t in good_trials if t],
        trial_p95_ms=[percentile(t, 95) for t in good_trials if t],
        status_codes=dict(sorted(statuses.items())),
        errors=dict(sorted(errors.items())),
        requests=len(everything),
        error_rate=(len(everything) - len(ok)) / len(everything) if everything else 0.0,
        bytes_mean=statistics.fmean(o.nbytes for o in ok) if ok else 0.0,
        samples_ms=[round(o.latency_s * 1000, 4) for o in ok],
    )
