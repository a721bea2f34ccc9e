"""Bottleneck analysis: findings drawn from one run's measurements, each with its evidence.

Every rule looks at figures in the run (statement counts, sizes, load levels, server settings),
fires only when those figures cross a stated limit, and puts the figures it used in `evidence`.
A rule without the figures it needs says nothing. Rules and limits are listed in
docs/report.md; the response-time ratings are here too (`RATINGS`).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence

from perfgate.judge import advice
from perfgate.results import EndpointProfile, Finding, LoadLevel, RunResult, Severity

SEVERITY_ORDER: dict[str, int] = {"CRITICAL": 0, "HIGH": 1, "MEDIUM": 2, "LOW": 3}
# Upper p95 limits (ms, sequential profile) of each response-time rating.
RATINGS: list[tuple[float, str]] = [
    (50, "excellent"), (200, "good"), (500, "acceptable"), (1000, "poor"),
    (float("inf"), "critical"),
]  # fmt: skip
N_PLUS_ONE_MIN = 5  # the same statement shape this often in one request
PAYLOAD_LIMITS = [(1_048_576, "HIGH"), (262_144, "MEDIUM"), (65_536, "LOW")]  # bytes, uncompressed
PRECOMPRESSED = re.compile(r"\s*(image|video|audio)/|\s*application/(zip|gzip|x-gzip)", re.I)
PLATEAU_GROWTH = 0.15  # concurrency at least doubled, throughput grew less than this
SUCCESS_LIMITS = [(0.90, "CRITICAL"), (0.99, "HIGH"), (0.999, "MEDIUM")]
QUEUE_RATIOS = [(10.0, "MEDIUM"), (3.0, "LOW")]  # loaded mean latency / unloaded service time
SYNC_CLASSES = {"sync", "gthread"}


def rating(p95_ms: float | None) -> str | None:
    if p95_ms is None:
        return None
    return next(name for limit, name in RATINGS if p95_ms <= limit)


def diagnose(run: RunResult) -> list[Finding]:
    """All findings of the run, the most severe first."""
    findings: list[Finding] = []
    for profile in run.endpoints:
        findings += n_plus_one(profile)
        findings += large_payload(profile)
    levels = sorted((lv for lv in run.load if lv.requests), key=lambda lv: lv.concurrency)
    findings += plateau(run, levels)
    findings += failing_under_load(levels)
    findings += queueing(run, levels)
    findings += workers_vs_cpus(run, bool(plateau(run, levels)))
    findings += advice.advice(run)  # the fixes named: indexes, caching, pooling
    ordered = sorted(findings, key=lambda f: (SEVERITY_ORDER[f.severity], f.kind, f.endpoint))
    return advice.prioritize(run, ordered)


def _grade(
    value: float, limits: Sequence[tuple[float, str]], above: bool = True
) -> Severity | None:
    for limit, severity in limits:
        if (value >= limit) if above else (value < limit):
            return severity  # type: ignore[return-value]
    return None


def n_plus_one(profile: EndpointProfile) -> list[Finding]:
    if profile.queries is None:
        return []
    total = sum(s.count for s in profile.queries.shapes)
    found = []
    for shape in profile.queries.shapes:
        if shape.count < N_PLUS_ONE_MIN:
            continue
        severity = _grade(
            shape.count, [(100, "CRITICAL"), (25, "HIGH"), (10, "MEDIUM"), (5, "LOW")]
        )
        assert severity is not None
        after = total - shape.count + 1
        found.append(Finding(
            endpoint=profile.name, kind="n_plus_one", severity=severity, statement=shape.shape,
            title=f"N+1 queries: one statement runs {shape.count} times in each request",
            evidence={"statement_runs": shape.count, "queries_per_request": total,
                      "statement_time_ms": shape.time_ms},
            recommendation=(
                f"Load the related rows for all parents at once (a JOIN, or one IN (...) query; "
                f"in SQLAlchemy selectinload()/joinedload(), or one GROUP BY over all parents) "
                f"and group them in Python: {total} statements per request become about {after}."
            ),
        ))  # fmt: skip
    return found


def large_payload(profile: EndpointProfile) -> list[Finding]:
    size = profile.bytes_mean
    if profile.latency_ms is None or profile.content_encoding:
        return []  # no successful answer, or already compressed
    if profile.content_type and PRECOMPRESSED.match(profile.content_type):
        return []  # gzip cannot shrink an image, video, sound or archive
    severity = _grade(size, PAYLOAD_LIMITS)
    if severity is None:
        return []
    evidence: dict[str, float | int | str] = {"bytes": round(size), "content_encoding": "none"}
    if profile.content_type:
        evidence["content_type"] = profile.content_type
    saving = ""
    if profile.gzip_bytes:
        evidence["gzip_bytes"] = profile.gzip_bytes
        saving = f" gzip makes this response {profile.gzip_bytes / size:.0%} of its size."
    return [Finding(
        endpoint=profile.name, kind="large_payload", severity=severity,
        title=f"Large uncompressed response: {size / 1024:.0f} KiB",
        evidence=evidence,
        recommendation=(
            "Answer Accept-Encoding: gzip with compressed bodies (a compression middleware or "
            f"the reverse proxy), or paginate / trim fields.{saving}"
        ),
    )]  # fmt: skip


def _service_ms(run: RunResult) -> float | None:
    """Mean unloaded latency over the endpoints (the load cycles through them evenly)."""
    means = [p.latency_ms.mean for p in run.endpoints if p.latency_ms]
    return statistics.fmean(means) if means else None


def _capacity(run: RunResult) -> int | None:
    server = run.server
    if server is None or server.worker_class not in SYNC_CLASSES:
        return None
    return server.workers * server.threads


def _ceiling(run: RunResult) -> tuple[int, float, float] | None:
    """(requests at a time, service ms, req/s) the configuration allows: the worker slots, no
    more than the CPUs, each busy for the unloaded service time. None without those figures."""
    service, capacity = _service_ms(run), _capacity(run)
    if not service or not capacity:
        return None
    parallel = min(capacity, run.environment.cpus)
    return parallel, service, parallel / (service / 1000)


def _plateau_levels(levels: list[LoadLevel]) -> tuple[LoadLevel, LoadLevel] | None:
    """The lowest level from which throughput stopped growing up to the highest one."""
    if len(levels) < 2:
        return None
    high = levels[-1]
    low = next(
        (
            lv
            for lv in levels[:-1]
            if high.concurrency >= 2 * lv.concurrency
            and lv.rps > 0
            and high.rps / lv.rps - 1 < PLATEAU_GROWTH
        ),
        None,
    )
    return None if low is None else (low, high)


def explained_plateau(run: RunResult) -> str | None:
    """The sentence for a plateau the configuration explains (no finding): throughput levelled
    at about what the workers, bounded by the CPUs, allow at the measured service time."""
    levels = sorted((lv for lv in run.load if lv.requests), key=lambda lv: lv.concurrency)
    found, ceiling = _plateau_levels(levels), _ceiling(run)
    if found is None or ceiling is None or plateau(run, levels):
        return None
    low, high = found
    parallel, service, rps = ceiling
    return (
        f"Throughput levelled from {low.concurrency} connection(s) at {high.rps:.0f} req/s, "
        f"about what {parallel} request(s) at a time (the workers, bounded by the "
        f"{run.environment.cpus} CPUs) at {service:.1f} ms each allow (~{rps:.0f} req/s): "
        "expected, so no finding; more connections only queue."
    )


def plateau(run: RunResult, levels: list[LoadLevel]) -> list[Finding]:
    """A plateau only where the configuration does not explain it: throughput well under what
    the workers allow (something serializes requests), or fewer workers than CPUs."""
    found = _plateau_levels(levels)
    if found is None:
        return []
    low, high = found
    growth = high.rps / low.rps - 1
    evidence: dict[str, float | int | str] = {
        "concurrency_low": low.concurrency, "rps_low": low.rps,
        "concurrency_high": high.concurrency, "rps_high": high.rps, "rps_growth": round(growth, 3),
    }  # fmt: skip
    severity: Severity = "MEDIUM"
    advice = (
        "Throughput stopped growing with concurrency: the server was saturated at or below "
        f"{low.concurrency} connections. Find the resource requests queue for."
    )
    ceiling = _ceiling(run)
    if ceiling is not None:
        parallel, service, rps = ceiling
        capacity, cpus = _capacity(run), run.environment.cpus
        evidence.update(service_ms=round(service, 3), capacity=capacity or 0, cpus=cpus,
                        expected_ceiling_rps=round(rps, 1))  # fmt: skip
        if high.rps < 0.5 * rps:
            severity = "HIGH"
            advice = (
                f"{parallel} request(s) at a time at {service:.1f} ms "
                f"each would allow ~{rps:.0f} req/s, yet throughput stays at {high.rps:.0f}: "
                "something serializes requests: a lock, SQLite's single writer (one write at a "
                "time per database file: use WAL mode, keep writes short, or a database server "
                "such as PostgreSQL), the GIL when threads do CPU work (use processes), or other "
                "processes on this machine took the CPUs (a shared runner: compare a quiet run)."
            )
        elif capacity is not None and capacity < cpus:
            advice = (
                f"Throughput reached what {parallel} worker slot(s) at {service:.1f} ms each "
                f"allow (~{rps:.0f} req/s) with {cpus - parallel} of {cpus} CPUs left idle: the "
                "plateau is the worker count; more workers (up to the CPUs) raise it."
            )
        else:
            return []  # the CPUs' ceiling, as configured: explained_plateau() says so
    return [Finding(
        endpoint="all", kind="throughput_plateau", severity=severity,
        title=f"Throughput flat from {low.concurrency} to {high.concurrency} connections",
        evidence=evidence, recommendation=advice,
    )]  # fmt: skip


_ERROR_ADVICE = {
    "timeout": "requests waited past load.timeout_s: the queue outgrew the server's capacity; "
    "add capacity or limit concurrency in front of the app",
    "connect_refused": "connections were refused: the listen backlog overflowed (gunicorn "
    "--backlog, net.core.somaxconn) or workers restarted (see app.log)",
    "connection_reset": "connections were reset: workers were killed or restarted (gunicorn "
    "--timeout) or the backlog overflowed; see app.log",
    "unexpected_status": "the app answered errors under concurrency: look in app.log for "
    "connection-pool exhaustion (SQLAlchemy pool_size/max_overflow), 'database is locked' "
    "(SQLite) or worker timeouts",
    "protocol_error": "responses were malformed under load: see app.log",
    # Kinds where the client's side gave out; the load engine's notes say more.
    "dropped": "the open model's requests waited past load.timeout_s for a free connection: "
    "the app could not keep up with load.rate (or perfgate could not: see the load notes)",
    "ephemeral_ports_exhausted": "the client ran out of ephemeral ports (sockets in TIME_WAIT "
    "after the app closed each connection): not the app's failure; use keep-alive workers or "
    "enable net.ipv4.tcp_tw_reuse",
    "client_file_limit": "the client hit its open-file limit: not the app's failure; raise "
    "`ulimit -n` before running",
}


def failing_under_load(levels: list[LoadLevel]) -> list[Finding]:
    if not levels:
        return []
    worst = min(levels, key=lambda lv: lv.success_rate)
    severity = _grade(worst.success_rate, SUCCESS_LIMITS, above=False)
    if severity is None:
        return []
    evidence: dict[str, float | int | str] = {
        f"success_at_c{lv.concurrency}": round(lv.success_rate, 4) for lv in levels
    }
    evidence.update({f"errors_{k}": v for k, v in worst.errors.items()})
    bad_codes = {k: v for k, v in worst.status_codes.items() if not k.startswith(("2", "3"))}
    evidence.update({f"status_{k}": v for k, v in bad_codes.items()})
    dominant = max(worst.errors, key=lambda k: worst.errors[k]) if worst.errors else None
    cause = _ERROR_ADVICE.get(dominant or "", "see app.log for the failures")
    fine_below = [lv.concurrency for lv in levels if lv.success_rate >= 0.999]
    where = f"above {max(fine_below)} connections" if fine_below else "at every level"
    return [Finding(
        endpoint="all", kind="errors_under_load", severity=severity,
        title=f"Requests fail under load ({where}): {worst.success_rate:.1%} succeed "
        f"at {worst.concurrency} connections",
        evidence=evidence, recommendation=cause[0].upper() + cause[1:] + ".",
    )]  # fmt: skip


def queueing(run: RunResult, levels: list[LoadLevel]) -> list[Finding]:
    service = _service_ms(run)
    if not levels or not service:
        return []
    top = levels[-1]
    mean = top.latency_ms.get("mean")
    figure = "mean"
    if mean is None:
        mean, figure = top.latency_ms.get("p50"), "median"
    if not mean:
        return []
    in_flight = top.rps * mean / 1000  # Little's law: L = lambda * W
    # Requests beyond the worker slots (at most the CPUs) wait their turn: that much waiting the
    # configuration explains, and only latency well beyond it says something.
    ceiling = _ceiling(run)
    parallel = ceiling[0] if ceiling else None
    expected = service * max(1.0, in_flight / parallel) if parallel else service
    ratio = mean / expected
    severity = _grade(ratio, QUEUE_RATIOS)
    if severity is None:
        return []
    evidence: dict[str, float | int | str] = {
        "concurrency": top.concurrency, "rps": top.rps, f"{figure}_latency_ms": round(mean, 3),
        "service_ms": round(service, 3), "little_L": round(in_flight, 1),
        "waiting_share": round(1 - service / mean, 3),
    }  # fmt: skip
    little = f"Little's law: {top.rps:.0f} req/s x {mean / 1000:.3f} s = {in_flight:.0f} in flight"
    advice = (
        f"{1 - service / mean:.0%} of each request's {mean:.0f} ms is waiting for a free worker "
        f"({little}). Faster code helps only through throughput; raise capacity or bound "
        "concurrency in front of the app."
    )
    if parallel:
        evidence["explained_latency_ms"] = round(expected, 3)
        # ratio = what the slots allow / the throughput reached: the wait is not for a worker.
        advice = (
            f"{little}; over {parallel} worker slot(s) at {service:.1f} ms that explains "
            f"~{expected:.0f} ms, yet requests took {mean:.0f} ms: throughput is 1/{ratio:.0f} "
            "of what the workers allow, so requests wait for something besides a worker: a lock, "
            "a connection pool, SQLite's single writer, or CPUs taken by other processes (see "
            "app.log and what the requests share)."
        )
    note = ""
    if in_flight < 0.8 * top.concurrency:
        note = (
            f" Only {in_flight:.0f} of {top.concurrency} connections had a request in flight on "
            "average (rps x latency): time went to the client's own work or to reconnecting, so "
            "the server saw less load than the connection count says."
        )
    return [Finding(
        endpoint="all", kind="latency_queueing", severity=severity,
        title=f"Latency at {top.concurrency} connections is {mean / service:.0f}x the unloaded "
        f"time" + (f", {ratio:.0f}x what the workers explain" if parallel else ""),
        evidence=evidence,
        recommendation=advice + note,
    )]  # fmt: skip


def workers_vs_cpus(run: RunResult, plateaued: bool) -> list[Finding]:
    server, cpus = run.server, run.environment.cpus
    if server is None or server.worker_class != "sync":
        return []
    evidence: dict[str, float | int | str] = {
        "workers": server.workers, "cpus": cpus, "worker_class": server.worker_class,
    }  # fmt: skip
    if server.workers < cpus:
        return [Finding(
            endpoint="all", kind="workers_vs_cpus", severity="MEDIUM" if plateaued else "LOW",
            title=f"{server.workers} sync worker(s) on {cpus} CPUs",
            evidence=evidence,
            recommendation=(
                f"At most {server.workers} request(s) run at once and {cpus - server.workers} "
                f"CPU(s) stay idle on this machine; gunicorn suggests 2 x CPUs + 1 = "
                f"{2 * cpus + 1} sync workers, memory permitting."
            ),
        )]  # fmt: skip
    if server.workers > 2 * cpus + 1:
        return [Finding(
            endpoint="all", kind="workers_vs_cpus", severity="LOW",
            title=f"{server.workers} sync workers on {cpus} CPUs",
            evidence=evidence,
            recommendation=(
                f"More than 2 x CPUs + 1 = {2 * cpus + 1} workers: the extra processes compete "
                "for the CPUs and memory and add no throughput unless requests mostly wait on I/O."
            ),
        )]  # fmt: skip
    return []
