"""The load engine against real sockets: ad-hoc misbehaving servers and real gunicorn."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfgate.config import AppConfig, Endpoint, LoadConfig
from perfgate.loadgen.aio import new_event_loop
from perfgate.loadgen.client import Connection, ErrorKind, Outcome, Watchdog
from perfgate.loadgen.engine import run_level, run_load
from perfgate.loadgen.http1 import Target, build_request
from perfgate.loadgen.netlimits import time_wait_count
from perfgate.run.server import free_port, running_app
from tests import adhoc_http as adhoc

ROOT = Path(__file__).resolve().parent.parent


def exchanges(url: str, count: int, timeout: float = 2.0, watchdog: bool = False) -> list[Outcome]:
    async def go() -> list[Outcome]:
        target = Target.from_url(url).resolved()
        dog = Watchdog(0.01) if watchdog else None
        if dog:
            dog.start()
        connection = Connection(target, dog)
        raw = build_request(target, Endpoint(name="x", path="/"))
        try:
            return [await connection.request(raw, timeout) for _ in range(count)]
        finally:
            await connection.close()
            if dog:
                dog.stop()

    loop = new_event_loop()
    try:
        return loop.run_until_complete(go())
    finally:
        loop.close()


def test_keep_alive_reuses_one_connection() -> None:
    with adhoc.AdhocServer(adhoc.keep_alive) as server:
        outcomes = exchanges(server.url, 5)
    assert [o.status for o in outcomes] == [200] * 5
    assert all(o.nbytes == 5 and o.error is None for o in outcomes)
    assert server.accepted == 1


def test_connection_close_reconnects_for_each_request() -> None:
    with adhoc.AdhocServer(adhoc.close_each) as server:
        outcomes = exchanges(server.url, 4)
    assert [o.status for o in outcomes] == [200] * 4
    assert server.accepted == 4


def test_chunked_body_split_across_packets() -> None:
    with adhoc.AdhocServer(adhoc.chunked_split) as server:
        outcomes = exchanges(server.url, 3)
    assert [(o.status, o.nbytes, o.error) for o in outcomes] == [(200, 21, None)] * 3
    assert server.accepted == 1


def test_body_until_eof() -> None:
    with adhoc.AdhocServer(adhoc.until_eof) as server:
        outcomes = exchanges(server.url, 2)
    assert [(o.status, o.nbytes) for o in outcomes] == [(200, len(b"body until close"))] * 2
    assert server.accepted == 2


def test_idle_keep_alive_close_is_retried_not_counted() -> None:
    with adhoc.AdhocServer(adhoc.idle_close) as server:
        outcomes = _reuse_after_idle(server.url)
    assert [(o.status, o.error) for o in outcomes] == [(200, None), (200, None)]
    assert server.accepted == 2  # the retry went out on a fresh connection


def _reuse_after_idle(url: str) -> list[Outcome]:
    import asyncio

    async def go() -> list[Outcome]:
        target = Target.from_url(url).resolved()
        connection = Connection(target)
        raw = build_request(target, Endpoint(name="x", path="/"))
        first = await connection.request(raw, 2.0)
        await asyncio.sleep(0.2)  # the server closes the idle connection meanwhile
        second = await connection.request(raw, 2.0)
        await connection.close()
        return [first, second]

    loop = new_event_loop()
    try:
        return loop.run_until_complete(go())
    finally:
        loop.close()


@pytest.mark.parametrize(
    ("handler", "kind"),
    [
        (adhoc.malformed, ErrorKind.PROTOCOL),
        (adhoc.bad_length, ErrorKind.PROTOCOL),
        (adhoc.reset, ErrorKind.RESET),
    ],
)
def test_client_errors_are_classified(handler: adhoc.Handler, kind: ErrorKind) -> None:
    with adhoc.AdhocServer(handler) as server:
        outcomes = exchanges(server.url, 2)
    assert [o.error for o in outcomes] == [kind, kind]
    assert all(o.status is None for o in outcomes)


@pytest.mark.parametrize("watchdog", [False, True])
def test_hanging_server_times_out(watchdog: bool) -> None:
    with adhoc.AdhocServer(adhoc.hang) as server:
        outcomes = exchanges(server.url, 2, timeout=0.2, watchdog=watchdog)
    assert [o.error for o in outcomes] == [ErrorKind.TIMEOUT, ErrorKind.TIMEOUT]
    # A timed-out connection is not reused: its late answer would be taken for the next one.
    assert server.accepted == 2


def test_connect_refused() -> None:
    outcomes = exchanges(f"http://127.0.0.1:{free_port()}", 1)
    assert outcomes[0].error is ErrorKind.CONNECT


def test_closed_loop_against_misbehaving_mix_keeps_kinds_apart() -> None:
    config = LoadConfig(concurrency=[3], duration_s=0.5, warmup_s=0, timeout_s=0.2)
    with adhoc.AdhocServer(adhoc.malformed) as server:
        level = run_level(server.url, [Endpoint(name="x", path="/")], config, 3)
    assert set(level.errors) == {ErrorKind.PROTOCOL.value}
    assert level.success_rate == 0 and level.latency_ms == {}


def gunicorn(worker_class: str) -> AppConfig:
    return AppConfig(
        target="tests.apps.tiny:create_app()",
        workers=1,
        worker_class=worker_class,
        threads=4 if worker_class == "gthread" else 1,
    )


@pytest.mark.parametrize("worker_class", ["sync", "gthread"])
def test_closed_loop_against_gunicorn(worker_class: str, tmp_path: Path) -> None:
    endpoints = [
        Endpoint(name="health", path="/health"),
        Endpoint(name="items", path="/items"),
        Endpoint(name="teapot", path="/teapot"),  # answers 418: a server answer, not a client error
    ]
    config = LoadConfig(concurrency=[4], duration_s=0.6, warmup_s=0.2)
    with running_app(gunicorn(worker_class), ROOT, tmp_path) as app:
        (level,) = run_load(app.base_url, endpoints, config)
    assert level.requests > 10
    assert level.errors == {"unexpected_status": level.endpoints[2].requests}
    assert set(level.status_codes) == {"200", "418"}
    assert level.status_codes["418"] == level.endpoints[2].requests
    assert 0 < level.success_rate < 1
    assert set(level.latency_ms) == {"p50", "p90", "p95", "p99", "p999", "max", "mean"}
    assert level.latency_ms["p50"] <= level.latency_ms["p99"] <= level.latency_ms["max"]
    assert level.endpoints[1].latency_ms and level.endpoints[2].latency_ms == {}
    assert level.client_cpu_us_per_request > 0 and 0 < level.client_cpu_share
    assert level.model == "closed" and level.dropped == 0


def test_thousand_connections_without_client_errors(tmp_path: Path) -> None:
    config = LoadConfig(concurrency=[1000], duration_s=1.0, warmup_s=0, timeout_s=30)
    app_config = gunicorn("sync").model_copy(update={"workers": 2})
    with running_app(app_config, ROOT, tmp_path) as app:
        (level,) = run_load(app.base_url, [Endpoint(name="health", path="/health")], config)
    assert level.requests >= 1000
    assert level.errors == {}, level.notes
    assert level.success_rate == 1.0


def test_connections_the_server_closes_leave_no_time_wait(tmp_path: Path) -> None:
    """Sync workers close every connection; closing our side with RST frees the server's
    socket at once, so a run does not fill the ephemeral port range for the next one."""
    config = LoadConfig(concurrency=[8], duration_s=0.5, warmup_s=0)
    with running_app(gunicorn("sync"), ROOT, tmp_path) as app:
        port = int(app.base_url.rsplit(":", 1)[1])
        before = time_wait_count(port)
        (level,) = run_load(app.base_url, [Endpoint(name="health", path="/health")], config)
        after = time_wait_count(port)
    if before is None or after is None:
        pytest.skip("/proc/net/tcp is not readable here")
    assert level.requests > 100 and level.errors == {}
    assert after - before < level.requests / 20


def test_open_model_counts_a_stall_from_the_scheduled_time() -> None:
    """Coordinated omission: requests queued behind a stalled one are late, and that counts."""
    endpoint = [Endpoint(name="x", path="/")]
    open_config = LoadConfig(concurrency=[1], duration_s=1.0, warmup_s=0, rate=100)
    with adhoc.AdhocServer(adhoc.stall_once(at_request=20, stall_s=0.4)) as server:
        level = run_level(server.url, endpoint, open_config, 1)
    assert level.model == "open" and level.target_rps == 100
    assert level.errors == {} and level.dropped == 0
    assert level.latency_ms["max"] >= 390
    # About 40 requests were due during the stall: each waited for the one connection.
    assert level.latency_ms["p90"] >= 100
    assert level.send_lateness_ms["max"] >= 300

    closed_config = LoadConfig(concurrency=[1], duration_s=1.0, warmup_s=0)
    with adhoc.AdhocServer(adhoc.stall_once(at_request=20, stall_s=0.4)) as server:
        closed = run_level(server.url, endpoint, closed_config, 1)
    # The closed loop sees the stall once: it simply sent nothing while waiting.
    assert closed.latency_ms["max"] >= 390
    assert closed.latency_ms["p90"] < 300


def test_open_model_drops_when_every_connection_stays_busy() -> None:
    config = LoadConfig(concurrency=[2], duration_s=1.0, warmup_s=0, timeout_s=0.2, rate=50)
    with adhoc.AdhocServer(adhoc.hang) as server:
        level = run_level(server.url, [Endpoint(name="x", path="/")], config, 2)
    assert level.errors.get("timeout", 0) > 0
    assert level.dropped > 0 and level.errors["dropped"] == level.dropped
    assert level.requests + level.dropped <= 51
    assert any("could not keep up" in note for note in level.notes)


def test_open_model_counts_exactly_the_requests_due_after_the_warm_up() -> None:
    config = LoadConfig(concurrency=[2], duration_s=0.5, warmup_s=0.3, rate=100)
    with adhoc.AdhocServer(adhoc.keep_alive) as server:
        level = run_level(server.url, [Endpoint(name="x", path="/")], config, 2)
        sent = server.requests
    # 30 requests fall due in the warm-up and 50 in the window; only the 50 are counted.
    assert level.requests + level.dropped == 50
    assert sent == 80 - level.dropped
