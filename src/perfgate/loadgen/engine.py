"""The load engine: N connections for a fixed time per level, closed loop or open at a rate.

Closed loop (`load.rate` unset): each connection sends its next request as soon as the previous
one is answered, cycling over the endpoints. Open model (`load.rate` set): requests are due on a
fixed schedule (`rate` per second over all connections); a free connection takes the oldest due
request, and its latency is counted from when it was due, not from when it could be sent, so a
server stall shows up in the figures instead of being hidden (coordinated omission). A request
that could not be sent within `timeout_s` of its due time, because every connection was busy, is
dropped and counted. Requests due (or sent) in the warm-up seconds are not counted.

Latencies go into fixed-size histograms (perfgate.loadgen.histogram), so memory does not grow with
the run. Each level also measures the client's own CPU and checks its limits
(perfgate.loadgen.netlimits), and says so in `notes` when the client rather than the app may have
been the limit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

from perfgate.config import Endpoint, LoadConfig
from perfgate.loadgen.client import Connection, ErrorKind, Watchdog
from perfgate.loadgen.histogram import LogHistogram
from perfgate.loadgen.http1 import Target, build_request
from perfgate.loadgen.netlimits import ensure_file_limit, port_pressure
from perfgate.loadgen.pollloop import PollLoop
from perfgate.loadgen.selfcheck import CLIENT_BUSY_SHARE, self_check_notes
from perfgate.results import LoadEndpoint, LoadLevel

LATENCY_POINTS = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p999": 99.9}
# After a connect-type failure, pause briefly so a refusing server is not hammered in a hot loop.
CONNECT_BACKOFF_S = 0.001
# Event-loop timers tick in milliseconds (uvloop): wake half a tick early rather than late.
TIMER_SLACK_S = 0.0005
# Once the window is over, a request still waiting for a connection is sent only if it is due
# less than this long ago; the rest count as dropped, so an overloaded run ends on time.
END_GRACE_S = 0.25
_CONNECT_KINDS = (ErrorKind.CONNECT, ErrorKind.PORTS, ErrorKind.FILES)

# Called about once a second while a level runs: (seconds since the level started, requests).
Progress = Callable[[float, int], None]


def run_load(
    base_url: str, endpoints: list[Endpoint], config: LoadConfig, progress: Progress | None = None
) -> list[LoadLevel]:
    """Run every configured level, one after another, each on a fresh event loop."""
    return [run_level(base_url, endpoints, config, c, progress) for c in config.concurrency]


def run_level(
    base_url: str,
    endpoints: list[Endpoint],
    config: LoadConfig,
    concurrency: int,
    progress: Progress | None = None,
    requests: Sequence[Sequence[Endpoint]] | None = None,
) -> LoadLevel:
    """One level on the app at `base_url`. `requests` holds each endpoint's concrete requests
    (its parameter values, its login filled in: perfgate.measure.login), sent in turn; by
    default, the endpoints' own."""
    target = Target.from_url(base_url).resolved()
    limit = ensure_file_limit(concurrency)
    before = port_pressure(target.address, target.port)
    concrete = requests or [e.expand() for e in endpoints]
    level = _Level(target, endpoints, concrete, config, concurrency).run(progress)
    after = port_pressure(target.address, target.port)
    notes = [
        n
        for n in (
            limit.note(concurrency),
            before.note("before the run") if before else None,
            after.note("after the run") if after else None,
        )
        if n
    ]
    return level.model_copy(update={"notes": [*notes, *level.notes]}) if notes else level


class _Tally:
    """What one endpoint got during the measured window."""

    __slots__ = ("latency", "errors", "statuses", "requests")

    def __init__(self) -> None:
        self.latency = LogHistogram()
        self.errors: dict[str, int] = {}
        self.statuses: dict[int, int] = {}
        self.requests = 0


class _Level:
    """One level's shared state: the schedule, the tallies, and the workers that fill them."""

    def __init__(
        self,
        target: Target,
        endpoints: list[Endpoint],
        requests: Sequence[Sequence[Endpoint]],
        config: LoadConfig,
        concurrency: int,
    ) -> None:
        self.target = target
        self.endpoints = endpoints
        self.config = config
        self.concurrency = concurrency
        self.variants = [[build_request(target, r) for r in own] for own in requests]
        self.turns = [0] * len(endpoints)
        self.heads = [e.method == "HEAD" for e in endpoints]
        self.expected = [frozenset(e.expect_status) for e in endpoints]
        self.tallies = [_Tally() for _ in endpoints]
        # Throughput per window: one-second windows, shorter for short runs so there are >= 5.
        self.window_s = min(1.0, config.duration_s / 5)
        self.windows = [0] * (math.ceil(config.duration_s / self.window_s) + 1)
        self.lateness = LogHistogram()
        self.completed = 0  # every answered or failed request, warm-up included
        self.dropped = 0
        self.next_slot = 0
        self.start = self.measure_from = self.stop_at = 0.0
        self.running = 0  # workers that have not yet seen the end of the run
        self.loop = PollLoop()

    def run(self, progress: Progress | None) -> LoadLevel:
        config, loop = self.config, self.loop
        watchdog = Watchdog(max(0.005, min(0.05, config.timeout_s / 10)))
        cpu_before = time.process_time()
        self.start = time.perf_counter()
        self.measure_from = self.start + config.warmup_s
        self.stop_at = self.measure_from + config.duration_s
        watchdog.start(loop)
        if progress:
            loop.call_later(1.0, self._tick, progress)
        connections = [Connection(self.target, watchdog, loop) for _ in range(self.concurrency)]
        self.running = len(connections)
        worker = _ClosedWorker if config.rate is None else _OpenWorker
        try:
            for n, connection in enumerate(connections):
                worker(self, connection, n).next()
            loop.run_until(lambda: self.running == 0)
        finally:
            for connection in connections:
                connection.abandon()
            watchdog.stop()
            loop.close()
        cpu_used = time.process_time() - cpu_before
        wall = time.perf_counter() - self.start
        return self._summarize(cpu_used, wall)

    def raw(self, i: int) -> bytes:
        """Endpoint i's next request (its parameter values in turn)."""
        variants = self.variants[i]
        if len(variants) == 1:
            return variants[0]
        self.turns[i] += 1
        return variants[self.turns[i] % len(variants)]

    def worker_done(self) -> None:
        self.running -= 1

    def _tick(self, progress: Progress) -> None:
        progress(time.perf_counter() - self.start, self.completed)
        self.loop.call_later(1.0, self._tick, progress)

    def record(
        self, i: int, status: int, kind: ErrorKind | None, since: float, end: float, measured: bool
    ) -> None:
        self.completed += 1
        if not measured:
            return
        tally = self.tallies[i]
        tally.requests += 1
        if kind is None:
            tally.statuses[status] = tally.statuses.get(status, 0) + 1
            if status in self.expected[i]:
                tally.latency.record(end - since)
            else:
                kind = ErrorKind.STATUS
        if kind is not None:
            tally.errors[kind] = tally.errors.get(kind, 0) + 1
        window = int((end - self.measure_from) / self.window_s)
        if window < len(self.windows):
            self.windows[window] += 1

    def _summarize(self, cpu_used: float, wall: float) -> LoadLevel:
        config, duration = self.config, self.config.duration_s
        overall = LogHistogram()
        errors: dict[str, int] = {}
        statuses: dict[str, int] = {}
        for tally in self.tallies:
            overall.merge(tally.latency)
            for kind, n in tally.errors.items():
                errors[kind] = errors.get(kind, 0) + n
            for code, n in tally.statuses.items():
                statuses[str(code)] = statuses.get(str(code), 0) + n
        total = sum(t.requests for t in self.tallies)
        dropped = self.dropped
        if dropped:
            errors[ErrorKind.DROPPED] = dropped
        share = cpu_used / wall if wall > 0 else 0.0
        rps = total / duration
        level = LoadLevel(
            concurrency=self.concurrency,
            duration_s=round(duration, 3),
            requests=total,
            rps=round(rps, 2),
            success_rate=overall.count / (total + dropped) if total + dropped else 0.0,
            latency_ms=latency_points(overall),
            errors=dict(sorted(errors.items())),
            status_codes=dict(sorted(statuses.items())),
            window_rps=[
                round(n / self.window_s, 2)
                for n in self.windows[: int(duration / self.window_s + 1e-9)]
            ],
            client_cpu_us_per_request=round(cpu_used / self.completed * 1e6, 1)
            if self.completed
            else 0.0,
            endpoints=[
                LoadEndpoint(
                    name=e.name,
                    requests=t.requests,
                    errors=sum(t.errors.values()),
                    rps=round(t.requests / duration, 2),
                    latency_ms=latency_points(t.latency),
                )
                for e, t in zip(self.endpoints, self.tallies, strict=True)
            ],
            model="closed" if config.rate is None else "open",
            target_rps=config.rate,
            dropped=dropped,
            send_lateness_ms=latency_points(self.lateness) if config.rate else {},
            client_cpu_share=round(share, 3),
            client_limited=share >= CLIENT_BUSY_SHARE,
        )
        return level.model_copy(update={"notes": self_check_notes(level)})


class _ClosedWorker:
    """One connection of the closed loop: the next request goes out when the last one ends.

    Driven by the connection's callbacks, not a coroutine: a coroutine step per request costs
    the client CPU that the app under test would otherwise get."""

    __slots__ = ("level", "connection", "i", "sent", "loop")

    def __init__(self, level: _Level, connection: Connection, offset: int) -> None:
        self.level = level
        self.connection = connection
        self.i = offset % len(level.variants)
        self.sent = 0.0
        self.loop = level.loop

    def next(self) -> None:
        level = self.level
        sent = time.perf_counter()
        if sent >= level.stop_at:
            level.worker_done()
            return
        self.sent = sent
        i = self.i
        self.connection.send(level.raw(i), level.heads[i], level.config.timeout_s, self.done)

    def done(self, status: int, kind: ErrorKind | None) -> None:
        level, i, sent = self.level, self.i, self.sent
        level.record(i, status, kind, sent, time.perf_counter(), sent >= level.measure_from)
        self.i = i + 1 if i + 1 < len(level.variants) else 0
        if kind is not None and kind in _CONNECT_KINDS:
            self.loop.call_later(CONNECT_BACKOFF_S, self.next)
        else:
            self.next()


class _OpenWorker:
    """One connection of the open model: takes the oldest due request whenever it is free."""

    __slots__ = ("level", "connection", "slot", "due", "interval", "first", "end", "loop")

    def __init__(self, level: _Level, connection: Connection, _: int) -> None:
        config = level.config
        assert config.rate is not None
        self.level = level
        self.connection = connection
        self.interval = 1.0 / config.rate
        # Which slots are warm-up and which measured, by count (no rounding at the edges).
        self.first = math.ceil(config.warmup_s * config.rate - 1e-9)
        self.end = math.ceil((config.warmup_s + config.duration_s) * config.rate - 1e-9)
        self.slot = 0
        self.due = 0.0
        self.loop = level.loop

    def next(self) -> None:
        level = self.level
        while True:
            slot = level.next_slot
            level.next_slot += 1
            if slot >= self.end:
                level.worker_done()
                return
            self.slot, self.due = slot, level.start + slot * self.interval
            now = time.perf_counter()
            if self.due - now > TIMER_SLACK_S:
                self.loop.call_later(self.due - now - TIMER_SLACK_S, self.fire)
                return
            if not self._dropped(now):
                self._send(now)
                return

    def fire(self) -> None:
        now = time.perf_counter()
        if self._dropped(now):
            self.next()
        else:
            self._send(now)

    def _dropped(self, now: float) -> bool:
        """Every connection stayed busy too long: drop the request (past the window, sooner)."""
        level, timeout = self.level, self.level.config.timeout_s
        if now - self.due > (timeout if now < level.stop_at else min(timeout, END_GRACE_S)):
            level.dropped += self.slot >= self.first
            return True
        return False

    def _send(self, now: float) -> None:
        level = self.level
        # Counted from the due time, or from the send if the timer woke a little early.
        if self.due > now:
            self.due = now
        if self.slot >= self.first:
            level.lateness.record(now - self.due)
        i = self.slot % len(level.variants)
        self.connection.send(level.raw(i), level.heads[i], level.config.timeout_s, self.done)

    def done(self, status: int, kind: ErrorKind | None) -> None:
        level, slot = self.level, self.slot
        i = slot % len(level.variants)
        level.record(i, status, kind, self.due, time.perf_counter(), slot >= self.first)
        self.next()


def latency_points(histogram: LogHistogram) -> dict[str, float]:
    """p50 .. p99.9, the exact max and the mean, in milliseconds ({} when nothing was recorded)."""
    if not histogram.count:
        return {}
    values = histogram.percentiles(list(LATENCY_POINTS.values()))
    points = {name: round(v * 1000, 4) for name, v in zip(LATENCY_POINTS, values, strict=True)}
    points["max"] = round(histogram.max() * 1000, 4)
    # The mean is what Little's law (in-flight = rate x mean latency) needs; see diagnose.py.
    points["mean"] = round(histogram.mean() * 1000, 4)
    return points
