"""The probe pass: a few untimed requests per endpoint that read exact, deterministic figures.

After the timed profile, each endpoint gets `REPEATS` requests marked with
`X-Perfgate-Request-Id`; the instrumented app (perfgate.run.inapp.instrument) writes each one's SQL
statements to a file named by that id, which this module reads. The same requests ask for
`Accept-Encoding: gzip` to learn whether the app compresses. Then `CALL_REPEATS` more ask the
wrapper to count their Python function calls (perfgate.run.inapp.calls). These requests are not
timed, so nothing here touches latency figures.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import statistics
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlsplit

from perfgate.config import AppConfig, Endpoint
from perfgate.database import QueryPlan
from perfgate.measure.login import Session
from perfgate.results import CallCount, EndpointProfile, EndpointQueries, QueryShape
from perfgate.run.inapp.instrument import CALLS_HEADER, REQUEST_HEADER

REPEATS = 3
CALL_REPEATS = 3
RECORD_WAIT_S = 3.0
NO_SQLALCHEMY = (
    "SQL statements were not counted: the app did not import SQLAlchemy (perfgate counts "
    "statements through SQLAlchemy's engine events only)"
)


CACHE_HEADERS = ("cache-control", "etag", "last-modified", "expires")
RECHECK_AFTER_S = 1.1  # a body carrying a timestamp to the second differs by then


@dataclass(frozen=True)
class Answer:
    """One probe answer: status, Content-Encoding, gzip size, body digest and cache headers."""

    status: int
    encoding: str | None
    gzip_bytes: int | None
    digest: str
    cache_headers: tuple[str, ...]
    content_type: str | None
    at: float


@dataclass(frozen=True)
class Probe:
    queries: EndpointQueries | None
    content_encoding: str | None
    gzip_bytes: int | None
    calls: list[CallCount] | None = None
    cache_headers: list[str] | None = None
    identical_body: bool | None = None
    content_type: str | None = None


@dataclass(frozen=True)
class ProbeResult:
    probes: dict[str, Probe]
    note: str | None  # why nothing was counted, when nothing was


def first_look(
    base_url: str, endpoints: list[Endpoint], timeout_s: float, session: Session | None = None
) -> dict[str, Answer]:
    """One plain answer of each GET endpoint, taken before the profile: the probe pass compares
    its answers with these, so a body that carries the time shows as changed without waiting."""
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    seen = {}
    for endpoint in endpoints:
        if endpoint.method == "GET":
            first = (session.expand(endpoint) if session else endpoint.expand())[0]
            answer = _request(host, port, first, None, timeout_s)
            if answer is not None:
                seen[endpoint.name] = answer
    return seen


def probe_endpoints(
    base_url: str,
    endpoints: list[Endpoint],
    query_dir: Path | None,
    timeout_s: float,
    session: Session | None = None,
    earlier: Mapping[str, Answer] = MappingProxyType({}),
) -> ProbeResult:
    """Probe each endpoint on the app at `base_url`; with the instance's `session`, requests
    carry its login, and a 401 logs in again and is sent once more."""
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    probes: dict[str, Probe] = {}
    answers: dict[str, list[Answer]] = {}
    sent_first: dict[str, Endpoint] = {}  # each endpoint's first concrete request
    notes: set[str] = set()
    for endpoint in endpoints:
        counts: list[int] = []
        records: list[dict[str, object]] = []
        encoding: str | None = None
        gzipped: int | None = None
        answers[endpoint.name] = [earlier[endpoint.name]] if endpoint.name in earlier else []
        for repeat in range(REPEATS):
            request_id = uuid.uuid4().hex
            concrete = session.expand(endpoint) if session else endpoint.expand()
            sent = concrete[repeat % len(concrete)]
            answer = _request(host, port, sent, request_id, timeout_s)
            if session and session.relogs_on(answer.status if answer else None, endpoint):
                sent, request_id = (
                    session.expand(endpoint)[repeat % len(concrete)],
                    uuid.uuid4().hex,
                )
                answer = _request(host, port, sent, request_id, timeout_s)
            encoding, gzipped = (answer.encoding, answer.gzip_bytes) if answer else (None, None)
            answers[endpoint.name] += [answer] if answer else []
            sent_first.setdefault(endpoint.name, sent)
            if query_dir is None:
                break  # only the encoding to learn: one request is enough
            record = _read_record(query_dir / f"{request_id}.json")
            if record is None:
                notes.add(f"no statement record came back for {endpoint.name!r} (see app.log)")
                break
            if not record.get("counted"):
                notes.add(NO_SQLALCHEMY)
                break
            records.append(record)
            counts.append(sum(int(str(s["count"])) for s in _shapes(record)))
        # Calls are counted by the wrapper whether or not the app uses SQLAlchemy; always of
        # the endpoint's first concrete request (its first `params` value), so they compare.
        calls = None
        if query_dir is not None and encoding is not None:
            calls = _count_calls(host, port, sent_first[endpoint.name], query_dir, timeout_s)
        probes[endpoint.name] = Probe(_summarize(counts, records), encoding, gzipped, calls)
    _recheck(host, port, endpoints, sent_first, answers, timeout_s)
    for name, seen in answers.items():
        if seen:
            probes[name] = replace(
                probes[name], cache_headers=list(seen[0].cache_headers),
                identical_body=len(seen) > 1 and len({a.digest for a in seen}) == 1
                and all(a.status == 200 for a in seen),
                content_type=seen[0].content_type,
            )  # fmt: skip
    return ProbeResult(probes, "; ".join(sorted(notes)) or None)


def _recheck(
    host: str,
    port: int,
    endpoints: list[Endpoint],
    sent: dict[str, Endpoint],
    answers: dict[str, list[Answer]],
    timeout_s: float,
) -> None:
    """One more request, over a second after the first, to each GET endpoint that answered the
    same bytes without cache headers so far, within less than a second (the answer taken before
    the profile is usually older than that): a timestamp in the body shows up as a change."""
    candidates = [
        e for e in endpoints
        if e.method == "GET" and (seen := answers[e.name]) and seen[0].status == 200
        and not seen[0].cache_headers and len({a.digest for a in seen}) == 1
        and seen[-1].at - seen[0].at < RECHECK_AFTER_S  # else the answers span enough time
    ]  # fmt: skip
    if not candidates:
        return
    first = min(answers[e.name][0].at for e in candidates)
    time.sleep(max(0.0, first + RECHECK_AFTER_S - time.monotonic()))
    for endpoint in candidates:
        answer = _request(host, port, sent[endpoint.name], None, timeout_s)
        if answer is not None:
            answers[endpoint.name].append(answer)


def why_not_counted(app: AppConfig) -> str | None:
    """Why SQL statements are not counted for this app, or None where they are."""
    if not app.target:
        return "SQL statements are counted only when perfgate runs the app itself (app.target)"
    if not app.count_queries:
        return "SQL statement counting is switched off (app.count_queries: false)"
    if not app.wrapped_for_queries:
        return f"SQL statements are counted for WSGI worker classes only, not {app.worker_class!r}"
    return None


def apply(profiles: list[EndpointProfile], result: ProbeResult) -> list[EndpointProfile]:
    """The profiles with their probe figures filled in."""
    out = []
    for profile in profiles:
        probe = result.probes.get(profile.name)
        if probe is None:
            out.append(profile)
            continue
        per_request = statistics.median(probe.queries.per_request) if probe.queries else None
        out.append(
            profile.model_copy(
                update={
                    "queries_per_request": per_request,
                    "queries": probe.queries,
                    "content_encoding": probe.content_encoding,
                    "gzip_bytes": probe.gzip_bytes,
                    "calls": probe.calls,
                    "cache_headers": probe.cache_headers,
                    "identical_body": probe.identical_body,
                    "content_type": probe.content_type,
                }
            )
        )
    return out


def _count_calls(
    host: str, port: int, endpoint: Endpoint, query_dir: Path, timeout_s: float
) -> list[CallCount] | None:
    """Python calls per request: the median over CALL_REPEATS requests, function by function
    (separate requests, so the profiler's cost never lands in the statement timings)."""
    seen: list[dict[tuple[str, bool], int]] = []
    for _ in range(CALL_REPEATS):
        request_id = uuid.uuid4().hex
        _request(host, port, endpoint, request_id, timeout_s, count_calls=True)
        record = _read_record(query_dir / f"{request_id}.json")
        calls = record.get("calls") if record else None
        if not isinstance(calls, list):
            return None
        seen.append({(str(c["name"]), bool(c["app"])): int(c["calls"]) for c in calls})
    keys = sorted({key for counts in seen for key in counts})
    medians = [(key, statistics.median(counts.get(key, 0) for counts in seen)) for key in keys]
    ranked = sorted(medians, key=lambda item: (not item[0][1], -item[1], item[0][0]))
    return [CallCount(name=name, calls=calls, app=app) for (name, app), calls in ranked if calls]


def _request(
    host: str,
    port: int,
    endpoint: Endpoint,
    request_id: str | None,
    timeout: float,
    count_calls: bool = False,
) -> Answer | None:
    """The answer to gzip: its status, Content-Encoding, the body's size gzipped by us when the
    app did not compress it, its digest and cache headers; None when the request failed."""
    headers = {**endpoint.headers, "Accept-Encoding": "gzip"}
    if request_id is not None:
        headers[REQUEST_HEADER] = request_id
    if count_calls:
        headers[CALLS_HEADER] = "1"
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        at = time.monotonic()
        connection.request(endpoint.method, endpoint.path, body=endpoint.body, headers=headers)
        response = connection.getresponse()
        body = response.read()
        encoding = (response.getheader("Content-Encoding") or "").strip().lower()
        present = {name.lower() for name, _ in response.getheaders()}
        return Answer(
            status=response.status, encoding=encoding,
            gzip_bytes=None if encoding or not body else len(gzip.compress(body, 6)),
            digest=hashlib.sha256(body).hexdigest(),
            cache_headers=tuple(h for h in CACHE_HEADERS if h in present),
            content_type=response.getheader("Content-Type"), at=at,
        )  # fmt: skip
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def _read_record(path: Path) -> dict[str, object] | None:
    # The app writes the record when the server closes the response, which can be a moment
    # after the client has read the last byte.
    deadline = time.monotonic() + RECORD_WAIT_S
    while True:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            path.unlink(missing_ok=True)
            return data if isinstance(data, dict) else None
        except FileNotFoundError:
            if time.monotonic() > deadline:
                return None
            time.sleep(0.01)
        except (OSError, ValueError):
            return None


def _shapes(record: dict[str, object]) -> list[dict[str, object]]:
    shapes = record.get("shapes")
    return [s for s in shapes if isinstance(s, dict)] if isinstance(shapes, list) else []


def _summarize(counts: list[int], records: list[dict[str, object]]) -> EndpointQueries | None:
    if not counts:
        return None
    # Keep the shapes of the request whose count is the median, so shapes and count agree.
    middle = sorted(range(len(counts)), key=lambda i: counts[i])[len(counts) // 2]
    shapes = [
        QueryShape(
            shape=str(s["shape"]), count=int(str(s["count"])), time_ms=float(str(s["time_ms"]))
        )
        for s in _shapes(records[middle])
    ]
    total_ms = round(sum(s.time_ms for s in shapes), 3)
    return EndpointQueries(
        per_request=counts, time_ms=total_ms, shapes=shapes, plans=_plans(records)
    )


def _plans(records: list[dict[str, object]]) -> list[QueryPlan]:
    """Each shape's plan once, from the first probe request that explained it."""
    found: dict[str, QueryPlan] = {}
    for record in records:
        plans = record.get("plans")
        for plan in plans if isinstance(plans, list) else []:
            try:
                parsed = QueryPlan.model_validate(plan)
            except ValueError:
                continue  # a plan is advice: a record we cannot read loses only that plan
            found.setdefault(parsed.shape, parsed)
    return list(found.values())
