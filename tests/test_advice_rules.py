"""The rules of judge/advice.py on constructed measurements whose right answers are known."""

from __future__ import annotations

import pytest

from perfgate.database import PlanScan, PoolStats, QueryPlan
from perfgate.judge.advice import ranked
from perfgate.judge.diagnose import diagnose
from perfgate.results import EndpointProfile, EndpointQueries, Finding, QueryShape
from tests.runs import level, profile, run

SHAPE = "SELECT orders.id FROM orders WHERE orders.customer = ?"


def _kind(findings: list[Finding], kind: str) -> list[Finding]:
    return [f for f in findings if f.kind == kind]


def _cacheable(**update: object) -> EndpointProfile:
    base = {"cache_headers": [], "identical_body": True}
    return profile("a", mean_ms=30, path="/catalog").model_copy(update={**base, **update})


@pytest.mark.parametrize(
    ("update", "expected"),
    [({}, "LOW"), ({"cache_headers": ["etag"]}, None), ({"identical_body": False}, None),
     ({"method": "POST"}, None), ({"path": "/healthz"}, None), ({"cache_headers": None}, None),
     ({"latency_ms": profile("a", mean_ms=80).latency_ms}, "MEDIUM")],
)  # fmt: skip
def test_cacheable_needs_identical_uncached_get_answers(
    update: dict[str, object], expected: str | None
) -> None:
    found = _kind(diagnose(run([_cacheable(**update)], workers=None)), "cacheable")
    assert [f.severity for f in found] == ([expected] if expected else [])


def _scanned(rows: int, verified: bool | None, runs: int = 3) -> EndpointProfile:
    scan = PlanScan(
        table="orders", columns=["customer"], rows=rows, line="SCAN orders",
        create_index="CREATE INDEX ix_orders_customer ON orders (customer)", verified=verified,
        ms_before=2.0 if verified else None, ms_after=0.5 if verified else None,
    )  # fmt: skip
    plan = QueryPlan(shape=SHAPE, database="sqlite", lines=["SCAN orders"], scans=[scan])
    queries = EndpointQueries(
        per_request=[runs] * 3, time_ms=6.0,
        shapes=[QueryShape(shape=SHAPE, count=runs, time_ms=6.0)], plans=[plan],
    )  # fmt: skip
    return profile("orders").model_copy(update={"queries": queries})


@pytest.mark.parametrize(
    ("rows", "verified", "expected"),
    [(999, True, None), (1000, True, "LOW"), (100_000, True, "MEDIUM"), (2_000_000, True, "HIGH"),
     (50_000, False, None), (50_000, None, "LOW")],
)  # fmt: skip
def test_missing_index_needs_a_big_table_and_a_plan_the_index_changed(
    rows: int, verified: bool | None, expected: str | None
) -> None:
    found = _kind(diagnose(run([_scanned(rows, verified)], workers=None)), "missing_index")
    assert [f.severity for f in found] == ([expected] if expected else [])
    if found and verified:
        # (2.0 - 0.5) ms on the copy, three runs per request.
        assert found[0].saving_ms == pytest.approx(4.5)
    if found and verified is None:
        assert "Not tried on a copy" in found[0].recommendation
        assert found[0].saving_ms == pytest.approx(6.0)  # at most the statement's own time


@pytest.mark.parametrize(
    ("waits", "timeouts", "expected"),
    [(0, 0, None), (4, 0, None), (50, 0, "LOW"), (200, 0, "MEDIUM"), (4, 1, "HIGH")],
)  # fmt: skip
def test_pool_wait_grades_by_share_waited_and_timeouts(
    waits: int, timeouts: int, expected: str | None
) -> None:
    pool = PoolStats(checkouts=1000, waits=waits, wait_ms=waits * 10.0, max_wait_ms=30.0,
                     timeouts=timeouts, capacity=1, processes=2)  # fmt: skip
    measured = run([profile("a")], [level(10, 400)]).model_copy(update={"pool": pool})
    found = _kind(diagnose(measured), "pool_wait")
    assert [f.severity for f in found] == ([expected] if expected else [])
    if found:
        assert found[0].saving_ms == pytest.approx(waits * 10.0 / measured.load[0].requests)


def test_ranked_orders_by_measured_saving_and_leaves_unmeasured_out() -> None:
    slow = _cacheable(name="slow", latency_ms=profile("a", mean_ms=40).latency_ms)
    fast = _cacheable(name="fast", latency_ms=profile("a", mean_ms=2).latency_ms)
    big = profile("big", size=2_000_000)  # large_payload: bytes, no time
    measured = run([fast, _scanned(50_000, True), slow, big], [level(10, 400)], workers=None)
    findings = diagnose(measured)
    assert {f.kind for f in findings} >= {"cacheable", "missing_index", "large_payload"}
    order = [(f.kind, f.endpoint) for f in ranked(findings)]
    # 40 ms (the slow answer's median), 4.5 ms (the index, timed on the copy), 2 ms.
    assert order == [("cacheable", "slow"), ("missing_index", "orders"), ("cacheable", "fast")]
    payload = _kind(findings, "large_payload")[0]
    assert payload.saving_ms is None and payload.next_run is not None


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [(None, True), ("application/json", True), ("text/html; charset=utf-8", True),
     ("image/png", False), ("application/zip", False)],
)  # fmt: skip
def test_large_payload_is_about_compressible_answers(
    content_type: str | None, expected: bool
) -> None:
    big = profile("big", size=300_000).model_copy(
        update={"content_type": content_type, "gzip_bytes": 40_000}
    )
    found = _kind(diagnose(run([big], workers=None)), "large_payload")
    assert bool(found) == expected
    if found:
        assert found[0].evidence["gzip_bytes"] == 40_000
        assert found[0].evidence.get("content_type") == content_type
