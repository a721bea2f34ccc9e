"""Builders of measured data with known figures, for tests of the gate, diagnosis and report."""

from __future__ import annotations

from perfgate.results import (
    EndpointProfile,
    EndpointQueries,
    Environment,
    LatencySummary,
    LoadEndpoint,
    LoadLevel,
    QueryShape,
    RunResult,
    ServerSettings,
)


def latency(mean: float, p95: float | None = None) -> LatencySummary:
    p95 = p95 if p95 is not None else mean * 1.5
    return LatencySummary(
        count=100, min=mean / 2, max=p95 * 2, mean=mean, median=mean, stdev=mean / 4,
        p95=p95, p99=p95 * 1.2,
    )  # fmt: skip


def profile(
    name: str,
    mean_ms: float = 5.0,
    queries: dict[str, int] | None = None,
    size: float = 1000.0,
    encoding: str | None = "",
    path: str = "/x",
) -> EndpointProfile:
    counted = None
    if queries is not None:
        total = sum(queries.values())
        shapes = [QueryShape(shape=s, count=n, time_ms=0.05 * n) for s, n in queries.items()]
        counted = EndpointQueries(per_request=[total] * 3, time_ms=0.05 * total, shapes=shapes)
    return EndpointProfile(
        name=name, method="GET", path=path, latency_ms=latency(mean_ms),
        trial_medians_ms=[mean_ms] * 3, trial_p95_ms=[mean_ms * 1.5] * 3,
        status_codes={"200": 100}, errors={}, requests=100, error_rate=0.0, bytes_mean=size,
        queries_per_request=None if counted is None else float(counted.per_request[0]),
        queries=counted, content_encoding=encoding,
    )  # fmt: skip


def level(
    concurrency: int,
    rps: float,
    mean_ms: float | None = None,
    success: float = 1.0,
    errors: dict[str, int] | None = None,
    codes: dict[str, int] | None = None,
) -> LoadLevel:
    mean = mean_ms if mean_ms is not None else concurrency / rps * 1000
    requests = int(rps * 4)
    return LoadLevel(
        concurrency=concurrency, duration_s=4.0, requests=requests, rps=rps,
        success_rate=success,
        latency_ms={"p50": mean * 0.9, "p90": mean * 1.5, "p95": mean * 1.8, "p99": mean * 2.5,
                    "max": mean * 4, "mean": mean},
        errors=errors or {}, status_codes=codes or {"200": requests}, window_rps=[rps] * 4,
        client_cpu_us_per_request=300.0,
        endpoints=[LoadEndpoint(name="a", requests=requests, errors=0, rps=rps,
                                latency_ms={"p50": mean})],
    )  # fmt: skip


def run(
    endpoints: list[EndpointProfile],
    load: list[LoadLevel] | None = None,
    workers: int | None = 2,
    cpus: int = 2,
    worker_class: str = "sync",
    queries_note: str | None = None,
) -> RunResult:
    server = None
    if workers is not None:
        server = ServerSettings(workers=workers, worker_class=worker_class, threads=1)
    return RunResult(
        created_at="2026-11-29T00:00:00+00:00", config_digest="0123456789abcdef",
        app="gunicorn app:app (2 x sync workers)",
        environment=Environment(python="3.11.7", platform="Linux x86_64", cpus=cpus,
                                gunicorn="23.0.0", perfgate="0.1.0", git_commit="abc123"),
        endpoints=endpoints, load=load or [], server=server, queries_note=queries_note,
    )  # fmt: skip
