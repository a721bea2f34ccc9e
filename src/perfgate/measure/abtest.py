"""Same-run A/B measurement: base and head apps side by side, their trials interleaved.

Both apps run at once on 127.0.0.1, each from its own tree (cwd = that tree, so relative paths in
app.env such as a SQLite file stay apart) and with its own log folder. Profile trials are
interleaved at the finest grain: within a trial of an endpoint the requests alternate between
the sides (AB BA AB ..., the starting side balanced over trials and shuffled), one at a time, so
both halves of a pair are measured over the same fraction of a second. Load levels cannot share
time that way (two loads at once would compete for the CPU), so each level runs as several short
trials per side in balanced random order (AB or BA per trial). A slow minute of the machine
therefore lands on both halves of a pair.
"""

from __future__ import annotations

import random
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from perfgate.config import AppConfig, Config, Endpoint, LoadConfig, ProfileConfig
from perfgate.errors import ConfigError
from perfgate.judge.stats import percentile
from perfgate.loadgen.client import (
    Connection,
    Outcome,
    Target,
    build_request,
    run_interruptible,
)
from perfgate.loadgen.engine import run_load
from perfgate.measure.probe import apply, probe_endpoints
from perfgate.measure.profile import split_samples, summarize_trials
from perfgate.measure.session import server_settings, why_not_counted
from perfgate.results import (
    EndpointProfile,
    Environment,
    LoadEndpoint,
    LoadLevel,
    RunResult,
    now_iso,
)
from perfgate.run.server import App, begin_stopping, gunicorn_version, nth_instance, running_app

SIDES = ("base", "head")


def measure_pair(
    config: Config,
    base_folder: Path,
    head_folder: Path,
    out_dir: Path,
    seed: int | None = None,
    head_app: AppConfig | None = None,
) -> tuple[RunResult, RunResult]:
    """Measure base and head side by side; both apps are stopped before this returns or raises.

    Both sides run `config.app` unless `head_app` gives the head its own (bench/power.py uses
    that to inject a slowdown through the environment)."""
    if config.app.url:
        raise ConfigError(
            f"{config.source}: app.url points at one running app; A/B needs two",
            "use app.target or app.command so perfgate can start base and head itself",
        )
    rng = random.Random(seed)
    folders = (base_folder, head_folder)
    app_configs = (config.app, head_app or config.app)
    with ExitStack() as stack:
        pairs = _start_pairs(stack, config.compare.ab_instances, app_configs, folders, out_dir, rng)
        profiles = profile_pair(pairs, config.endpoints, config.profile, rng)
        # Statement counts per side (exact, not statistical), as measure() does for one app.
        probes = [
            probe_endpoints(a.base_url, config.endpoints, a.query_dir, config.profile.timeout_s)
            for a in pairs[0]
        ]
        profiles = [apply(p, probe) for p, probe in zip(profiles, probes, strict=True)]
        levels = load_pair(pairs, config.endpoints, config.load, rng) if config.load.enabled else []
        descriptions = [a.description for a in pairs[0]]
    version = gunicorn_version() if config.app.target else None
    runs = [
        RunResult(
            created_at=now_iso(),
            config_digest=config.digest,
            app=descriptions[i],
            environment=Environment.capture(folders[i], version),
            endpoints=profiles[i],
            load=[lv[i] for lv in levels],
            server=server_settings(config),
            queries_note=probes[i].note or why_not_counted(config),
            instances=len(pairs),
        )
        for i in range(2)
    ]
    return runs[0], runs[1]


def _start_pairs(
    stack: ExitStack,
    count: int,
    app_configs: tuple[AppConfig, AppConfig],
    folders: tuple[Path, Path],
    out_dir: Path,
    rng: random.Random,
) -> list[tuple[App, App]]:
    """Start `count` instances of each side, in the order A1 B1 B2 A2 ... or B1 A1 A2 B2 ...

    Why more than one instance per side: two processes of the same code differ by a few percent
    (where the scheduler puts them, their memory layout); trials rotate over the pairs, so
    per-instance effects average out; pair j's two apps share one hash seed (nth_instance). Why
    the drawn, mirrored start order: in A/A runs the side started first answered ~1.3% slower,
    with one or with two instances per side; which side that is must be chance, not always the
    base."""
    first = rng.randrange(2)
    started: dict[tuple[int, int], App] = {}
    for j in range(count):
        for side in (first, 1 - first) if j % 2 == 0 else (1 - first, first):
            log_dir = out_dir / (SIDES[side] if j == 0 else f"{SIDES[side]}-{j + 1}")
            app = running_app(nth_instance(app_configs[side], j), folders[side], log_dir)
            started[side, j] = stack.enter_context(app)
    # Unwound first: every app is told to stop at once, then each is waited for.
    stack.callback(begin_stopping, list(started.values()))
    return [(started[0, j], started[1, j]) for j in range(count)]


def balanced_orders(count: int, rng: random.Random) -> list[tuple[int, int]]:
    """`count` side orders, half (0, 1) and half (1, 0) (one extra if odd), shuffled."""
    orders = [(0, 1) if i % 2 == 0 else (1, 0) for i in range(count)]
    rng.shuffle(orders)
    return orders


def profile_pair(
    pairs: list[tuple[App, App]],
    endpoints: list[Endpoint],
    config: ProfileConfig,
    rng: random.Random,
) -> list[list[EndpointProfile]]:
    # Ctrl-C / SIGTERM cancel the pair cleanly (see httpclient.run_interruptible).
    urls = [(base.base_url, head.base_url) for base, head in pairs]
    return run_interruptible(_profile_pair(urls, endpoints, config, rng))


async def _profile_pair(
    urls: list[tuple[str, str]],
    endpoints: list[Endpoint],
    config: ProfileConfig,
    rng: random.Random,
) -> list[list[EndpointProfile]]:
    targets = [[Target.from_url(u) for u in pair] for pair in urls]
    connections = [[Connection(t) for t in pair] for pair in targets]
    raw = [[{e.name: build_request(t, e) for e in endpoints} for t in pair] for pair in targets]
    outcomes: list[dict[str, list[list[Outcome]]]] = [
        {e.name: [] for e in endpoints} for _ in SIDES
    ]
    per_trial = split_samples(config.samples, config.trials)
    orders = {e.name: balanced_orders(len(per_trial), rng) for e in endpoints}
    try:
        for endpoint in endpoints:
            for pair, requests in zip(connections, raw, strict=True):
                for side in (0, 1):
                    for _ in range(config.warmup):
                        await pair[side].request(requests[side][endpoint.name], config.timeout_s)
        order = list(endpoints)
        for t, count in enumerate(per_trial):
            rng.shuffle(order)
            # Trials rotate over the pairs of instances (see _start_pairs).
            pair, requests = connections[t % len(urls)], raw[t % len(urls)]
            for endpoint in order:
                head = endpoint.method == "HEAD"
                blocks: list[list[Outcome]] = [[], []]
                # Request by request, alternating AB BA AB ...: both sides of a trial see the
                # same fraction of a second of the machine, so a contention burst hits both.
                first = orders[endpoint.name][t]
                for i in range(count):
                    for side in first if i % 2 == 0 else first[::-1]:
                        outcome = await pair[side].request(
                            requests[side][endpoint.name], config.timeout_s, head
                        )
                        blocks[side].append(outcome)
                for side in (0, 1):
                    outcomes[side][endpoint.name].append(blocks[side])
    finally:
        for pair in connections:
            for connection in pair:
                await connection.close()
    return [[summarize_trials(e, outcomes[side][e.name]) for e in endpoints] for side in (0, 1)]


def load_pair(
    pairs: list[tuple[App, App]],
    endpoints: list[Endpoint],
    config: LoadConfig,
    rng: random.Random,
) -> list[tuple[LoadLevel, LoadLevel]]:
    """Per level, `config.trials` short runs per side in balanced random order, then merged."""
    trials = max(config.trials, 2)
    # Each short trial is 1/trials of the level, its warm-up too: the app is already warm, the
    # warm-up only lets the new connections settle, and the total stays what the config says.
    short = {"duration_s": config.duration_s / trials, "warmup_s": config.warmup_s / trials}
    levels = []
    for concurrency in config.concurrency:
        one = config.model_copy(update={"concurrency": [concurrency], **short})
        runs: list[list[LoadLevel]] = [[], []]
        for n, order in enumerate(balanced_orders(trials, rng)):
            pair = pairs[n % len(pairs)]
            for side in order:
                runs[side].extend(run_load(pair[side].base_url, endpoints, one))
        levels.append((merge_levels(runs[0]), merge_levels(runs[1])))
    return levels


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
