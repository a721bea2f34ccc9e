"""Closed-loop load: N concurrent keep-alive connections for a fixed time, per level.

Each connection sends its next request as soon as the previous one is answered, cycling over
the endpoints. Requests that started in the warm-up seconds are not counted.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from perfgate.config import Endpoint, LoadConfig
from perfgate.httpclient import (
    Connection,
    ErrorKind,
    Outcome,
    Target,
    build_request,
    new_event_loop,
)
from perfgate.results import LoadEndpoint, LoadLevel
from perfgate.stats import percentile

LATENCY_POINTS = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "max": 100.0}


def run_load(base_url: str, endpoints: list[Endpoint], config: LoadConfig) -> list[LoadLevel]:
    target = Target.from_url(base_url)
    levels = []
    for concurrency in config.concurrency:
        loop = new_event_loop()
        try:
            levels.append(
                loop.run_until_complete(_run_level(target, endpoints, config, concurrency))
            )
        finally:
            loop.close()
    return levels


async def _run_level(
    target: Target, endpoints: list[Endpoint], config: LoadConfig, concurrency: int
) -> LoadLevel:
    raw = [build_request(target, e) for e in endpoints]
    records: list[tuple[float, int, Outcome]] = []  # (finish time, endpoint index, outcome)
    start = time.perf_counter()
    measure_from = start + config.warmup_s
    stop_at = measure_from + config.duration_s
    cpu_before = time.process_time()

    async def worker(offset: int) -> None:
        connection = Connection(target)
        index = offset
        try:
            while True:
                sent = time.perf_counter()
                if sent >= stop_at:
                    return
                i = index % len(raw)
                outcome = await connection.request(raw[i], config.timeout_s)
                if sent >= measure_from:
                    records.append((time.perf_counter(), i, outcome))
                index += 1
        finally:
            await connection.close()

    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    cpu_used = time.process_time() - cpu_before
    elapsed = max(time.perf_counter() - measure_from, 1e-9)
    return _summarize(endpoints, records, concurrency, elapsed, measure_from, cpu_used)


def _is_success(endpoint: Endpoint, outcome: Outcome) -> bool:
    return outcome.error is None and outcome.status in endpoint.expect_status


def _latency_points(latencies_ms: list[float]) -> dict[str, float]:
    if not latencies_ms:
        return {}
    points = {name: round(percentile(latencies_ms, q), 4) for name, q in LATENCY_POINTS.items()}
    # The mean is what Little's law (in-flight = rate x mean latency) needs; see diagnose.py.
    return {**points, "mean": round(sum(latencies_ms) / len(latencies_ms), 4)}


def _summarize(
    endpoints: list[Endpoint],
    records: list[tuple[float, int, Outcome]],
    concurrency: int,
    elapsed: float,
    measure_from: float,
    cpu_used: float,
) -> LoadLevel:
    errors: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    # Throughput per window: one-second windows, shorter for short runs so there are at least 5.
    window_s = min(1.0, elapsed / 5)
    windows: Counter[int] = Counter()
    per_endpoint: list[list[float]] = [[] for _ in endpoints]
    per_endpoint_errors = [0] * len(endpoints)
    for finished, i, outcome in records:
        windows[int((finished - measure_from) / window_s)] += 1
        if outcome.status is not None:
            statuses[str(outcome.status)] += 1
        if _is_success(endpoints[i], outcome):
            per_endpoint[i].append(outcome.latency_s * 1000)
        else:
            errors[(outcome.error or ErrorKind.STATUS).value] += 1
            per_endpoint_errors[i] += 1
    good = [v for values in per_endpoint for v in values]
    total = len(records)
    whole_windows = int(elapsed / window_s)
    return LoadLevel(
        concurrency=concurrency,
        duration_s=round(elapsed, 3),
        requests=total,
        rps=round(total / elapsed, 2),
        success_rate=len(good) / total if total else 0.0,
        latency_ms=_latency_points(good),
        errors=dict(sorted(errors.items())),
        status_codes=dict(sorted(statuses.items())),
        window_rps=[round(windows.get(w, 0) / window_s, 2) for w in range(whole_windows)],
        client_cpu_us_per_request=round(cpu_used / total * 1e6, 1) if total else 0.0,
        endpoints=[
            LoadEndpoint(
                name=e.name,
                requests=len(per_endpoint[i]) + per_endpoint_errors[i],
                errors=per_endpoint_errors[i],
                rps=round((len(per_endpoint[i]) + per_endpoint_errors[i]) / elapsed, 2),
                latency_ms=_latency_points(per_endpoint[i]),
            )
            for i, e in enumerate(endpoints)
        ],
    )
