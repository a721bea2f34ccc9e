"""Diagnosis rules on constructed measurements whose right answers are known."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfgate.judge.diagnose import diagnose, explained_plateau, rating
from perfgate.layout import Layout
from perfgate.report.sections import findings_summary
from perfgate.report.summary import summary_lines
from perfgate.results import Finding, ResultsFile
from tests.runs import level, profile, run


def _kinds(findings: list[Finding]) -> dict[str, Finding]:
    return {f.kind: f for f in findings}


@pytest.mark.parametrize(
    ("p95", "expected"),
    [(None, None), (12, "excellent"), (50, "excellent"), (50.1, "good"), (200, "good"),
     (499, "acceptable"), (1000, "poor"), (1000.1, "critical")],
)  # fmt: skip
def test_ratings_have_the_stated_limits(p95: float | None, expected: str | None) -> None:
    assert rating(p95) == expected


@pytest.mark.parametrize(
    ("runs", "severity"), [(4, None), (5, "LOW"), (10, "MEDIUM"), (40, "HIGH"), (100, "CRITICAL")]
)
def test_n_plus_one_names_endpoint_statement_and_count(runs: int, severity: str | None) -> None:
    shapes = {"SELECT a FROM t": 1, "SELECT b FROM u WHERE u.t_id = ?": runs}
    found = [f for f in diagnose(run([profile("list", queries=shapes)])) if f.kind == "n_plus_one"]
    if severity is None:
        assert found == []
        return
    (finding,) = found
    assert (finding.endpoint, finding.severity) == ("list", severity)
    assert finding.statement == "SELECT b FROM u WHERE u.t_id = ?"
    assert finding.evidence["statement_runs"] == runs
    assert finding.evidence["queries_per_request"] == runs + 1
    assert "become about 2" in finding.recommendation


def test_no_queries_counted_means_no_query_advice() -> None:
    assert diagnose(run([profile("a", queries=None)], workers=None)) == []


def test_a_plateau_at_the_cpus_ceiling_is_explained_not_a_finding() -> None:
    # 2 sync workers on 2 CPUs at 5 ms each allow ~400 req/s; 390 -> 405 is that ceiling, and
    # at 50 connections each request waits for 25 turns (L = 405 x 0.123 = 50): as configured.
    levels = [level(10, 390), level(50, 405)]
    measured = run([profile("a", mean_ms=5)], levels)
    kinds = _kinds(diagnose(measured))
    assert "throughput_plateau" not in kinds and "latency_queueing" not in kinds
    explained = explained_plateau(measured)
    assert explained is not None and "~400 req/s" in explained and "2 CPUs" in explained


def test_a_plateau_below_the_cpu_count_names_the_workers() -> None:
    levels = [level(10, 390), level(50, 405)]
    measured = run([profile("a", mean_ms=5)], levels, workers=2, cpus=4)
    finding = _kinds(diagnose(measured))["throughput_plateau"]
    assert finding.severity == "MEDIUM"
    assert finding.evidence["expected_ceiling_rps"] == 400
    assert finding.evidence["rps_growth"] == pytest.approx(405 / 390 - 1, abs=1e-3)
    assert "2 of 4 CPUs left idle" in finding.recommendation
    assert explained_plateau(measured) is None


def test_plateau_far_below_capacity_points_at_serialization() -> None:
    levels = [level(10, 60), level(50, 62)]
    finding = _kinds(diagnose(run([profile("a", mean_ms=5)], levels)))["throughput_plateau"]
    assert finding.severity == "HIGH"
    assert "serializes" in finding.recommendation


def test_plateau_found_where_it_starts() -> None:
    levels = [level(10, 200), level(50, 400), level(100, 410)]
    measured = run([profile("a", mean_ms=5)], levels, cpus=4)  # 2 workers: below the CPUs
    finding = _kinds(diagnose(measured))["throughput_plateau"]
    assert (finding.evidence["concurrency_low"], finding.evidence["concurrency_high"]) == (50, 100)


def test_growing_throughput_is_no_plateau() -> None:
    levels = [level(10, 200), level(50, 380)]
    assert "throughput_plateau" not in _kinds(diagnose(run([profile("a")], levels)))


def test_success_rate_falling_at_high_concurrency() -> None:
    levels = [level(10, 400), level(100, 380, success=0.95, errors={"timeout": 76})]
    finding = _kinds(diagnose(run([profile("a")], levels)))["errors_under_load"]
    assert finding.severity == "HIGH"
    assert "above 10 connections" in finding.title
    assert finding.evidence["success_at_c100"] == 0.95
    assert finding.evidence["errors_timeout"] == 76
    assert "timeout" in finding.recommendation


def test_errors_at_every_level_are_critical_below_ninety_percent() -> None:
    codes = {"200": 170, "503": 30}
    levels = [level(10, 50, success=0.85, errors={"unexpected_status": 30}, codes=codes)]
    finding = _kinds(diagnose(run([profile("a")], levels)))["errors_under_load"]
    assert finding.severity == "CRITICAL" and "every level" in finding.title
    assert finding.evidence["status_503"] == 30
    assert "pool" in finding.recommendation


def test_queueing_follows_littles_law() -> None:
    # 50 connections, 400 req/s, 125 ms mean: L = 400 x 0.125 = 50 in flight; service 5 ms.
    # Threaded async workers: no worker-slot count to explain the wait with.
    levels = [level(10, 400, mean_ms=25), level(50, 400, mean_ms=125)]
    measured = run([profile("a", mean_ms=5)], levels, worker_class="gevent")
    finding = _kinds(diagnose(measured))["latency_queueing"]
    assert finding.severity == "MEDIUM"
    assert finding.evidence["little_L"] == 50
    assert finding.evidence["waiting_share"] == 0.96
    assert "lag" not in finding.recommendation and "connections had" not in finding.recommendation


def test_queueing_notes_when_connections_sat_idle() -> None:
    levels = [level(50, 100, mean_ms=100)]  # L = 10 of 50
    finding = _kinds(diagnose(run([profile("a", mean_ms=5)], levels)))["latency_queueing"]
    assert "Only 10 of 50 connections" in finding.recommendation


def test_queueing_beyond_what_the_workers_explain() -> None:
    # 4 connections on 2 worker slots at 5 ms explain ~10 ms; 100 ms is 10x that.
    levels = [level(4, 40, mean_ms=100)]
    finding = _kinds(diagnose(run([profile("a", mean_ms=5)], levels)))["latency_queueing"]
    assert finding.severity == "MEDIUM"
    assert finding.evidence["explained_latency_ms"] == 10
    assert "10x what the workers explain" in finding.title


def test_one_summary_line_per_finding_kind_naming_its_endpoints() -> None:
    big = [profile(name, size=300_000) for name in ("a", "b", "c")]
    n_plus_one = [profile("d", queries={"SELECT x": 12}), profile("e", queries={"SELECT y": 15})]
    lines = findings_summary(diagnose(run([*big, *n_plus_one], workers=4)))
    payload = [line for line in lines if "Large uncompressed response" in line]
    assert payload == ["- 🟨 **MEDIUM** Large uncompressed response: 293 KiB (a, b, c)"]
    queries = [line for line in lines if "n_plus_one" in line]
    assert len(queries) == 1 and "d: N+1" in queries[0] and "e: N+1" in queries[0]


@pytest.mark.parametrize(
    ("workers", "cpus", "expected"), [(2, 8, "LOW"), (4, 2, None), (5, 2, None), (6, 2, "LOW")]
)
def test_workers_against_cpus(workers: int, cpus: int, expected: str | None) -> None:
    findings = _kinds(diagnose(run([profile("a")], workers=workers, cpus=cpus)))
    assert (findings["workers_vs_cpus"].severity if "workers_vs_cpus" in findings else None) == (
        expected
    )


def test_too_few_workers_is_worse_when_throughput_plateaued() -> None:
    levels = [level(10, 390), level(50, 400)]
    findings = _kinds(diagnose(run([profile("a")], levels, workers=2, cpus=8)))
    assert findings["workers_vs_cpus"].severity == "MEDIUM"
    assert "17 sync workers" in findings["workers_vs_cpus"].recommendation


@pytest.mark.parametrize(
    ("size", "encoding", "expected"),
    [(60_000, "", None), (70_000, "", "LOW"), (300_000, "", "MEDIUM"), (2_000_000, "", "HIGH"),
     (2_000_000, "gzip", None)],
)  # fmt: skip
def test_large_uncompressed_payloads(size: float, encoding: str, expected: str | None) -> None:
    findings = _kinds(diagnose(run([profile("a", size=size, encoding=encoding)], workers=None)))
    got = findings["large_payload"].severity if "large_payload" in findings else None
    assert got == expected


def test_findings_come_most_severe_first() -> None:
    levels = [level(10, 400), level(100, 380, success=0.85, errors={"timeout": 200})]
    shapes = {"SELECT 1": 6}
    severities = [f.severity for f in diagnose(run([profile("a", queries=shapes)], levels))]
    order = {"CRITICAL": 0, "HIGH": 1, "MEDIUM": 2, "LOW": 3}
    assert severities == sorted(severities, key=order.__getitem__)
    assert severities[0] == "CRITICAL"


def test_the_terminal_names_a_serious_finding_once_with_its_endpoints(tmp_path: Path) -> None:
    same = [profile(name, queries={"SELECT x": 30}) for name in ("d", "e")]
    measured = run(same, workers=4)
    results = ResultsFile(verdict="pass", checks=[], run=measured, findings=diagnose(measured))
    lines = [line for line in summary_lines(results, Layout(tmp_path)) if "finding" in line]
    assert lines == [
        "  finding      HIGH d, e n_plus_one: N+1 queries: one statement runs 30 times in each "
        "request"
    ]
