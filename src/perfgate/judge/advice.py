"""Findings that name the fix (missing indexes, cacheable responses, pool waits) and priorities.

Drawn, like diagnose.py's, only from figures in the run: the database's own plans and the index
tried on a scratch copy (perfgate.run.inapp.plans), the probe pass's answers, the pool's
checkout waits during the load phase. `prioritize` then gives every finding the time its fix
would save, as measured in this run, and how the next run will show that it worked. Limits are
listed in docs/report.md.
"""

from __future__ import annotations

import re

from perfgate.database import PlanScan, PoolStats
from perfgate.results import EndpointProfile, Finding, LoadLevel, RunResult, Severity

PLAN_MIN_ROWS = 1000  # a full scan of a smaller table costs too little to name
PLAN_ROWS = [(1_000_000, "HIGH"), (100_000, "MEDIUM"), (PLAN_MIN_ROWS, "LOW")]
CACHE_SLOW_MS = 50.0  # a cacheable answer this slow (median) is MEDIUM
LIVENESS = re.compile(r"health|ready|readiness|live|liveness|ping", re.IGNORECASE)
POOL_WAIT_SHARE = 0.01  # checkouts that waited, of all checkouts in the load phase
POOL_MEDIUM_SHARE = 0.10


def advice(run: RunResult) -> list[Finding]:
    findings: list[Finding] = []
    for profile in run.endpoints:
        findings += missing_index(profile)
        findings += cacheable(profile)
    if run.pool is not None:
        findings += pool_wait(run, run.pool)
    return findings


def _by_rows(rows: int) -> Severity | None:
    for limit, severity in PLAN_ROWS:
        if rows >= limit:
            return severity  # type: ignore[return-value]
    return None


def missing_index(profile: EndpointProfile) -> list[Finding]:
    if profile.queries is None:
        return []
    runs = {s.shape: s for s in profile.queries.shapes}
    found = []
    for plan in profile.queries.plans:
        shape = runs.get(plan.shape)
        for scan in plan.scans:
            severity = _by_rows(scan.rows)
            if severity is None or scan.verified is False:
                continue  # too small, or the index did not change SQLite's plan on the copy
            count = shape.count if shape else 1
            found.append(Finding(
                endpoint=profile.name, kind="missing_index", severity=severity,
                statement=plan.shape,
                title=f"Full scan of {scan.table} ({scan.rows} rows) filtered on "
                f"{', '.join(scan.columns)}: no index",
                evidence=_scan_evidence(scan, count, shape.time_ms if shape else None),
                recommendation=_index_advice(scan, plan.database),
            ))  # fmt: skip
    return found


def _scan_evidence(
    scan: PlanScan, count: int, time_ms: float | None
) -> dict[str, float | int | str]:
    evidence: dict[str, float | int | str] = {
        "table": scan.table, "columns": ", ".join(scan.columns), "rows": scan.rows,
        "plan_line": scan.line, "statement_runs": count,
    }  # fmt: skip
    if time_ms is not None:
        evidence["statement_time_ms"] = time_ms
    if scan.verified:
        evidence["plan_with_index"] = " / ".join(scan.plan_after)
    if scan.ms_before is not None and scan.ms_after is not None:
        evidence.update(copy_ms_before=scan.ms_before, copy_ms_after=scan.ms_after)
    return evidence


def _index_advice(scan: PlanScan, database: str) -> str:
    if scan.verified:
        timing = ""
        if scan.ms_before is not None and scan.ms_after is not None:
            timing = (
                f" and the statement took {scan.ms_after:.3g} ms instead of {scan.ms_before:.3g}"
            )
        proof = (
            f"Verified on a scratch copy of the database: with the index the plan reads "
            f"'{' / '.join(scan.plan_after)}'{timing}."
        )
    else:
        proof = (
            f"Not tried on a copy ({scan.verify_note or database}): check the plan with EXPLAIN "
            "after adding it."
        )
    return (
        f"Add the index (a migration, or index=True on the column in SQLAlchemy): "
        f"{scan.create_index}; {proof}"
    )


def cacheable(profile: EndpointProfile) -> list[Finding]:
    if (
        profile.method != "GET" or not profile.identical_body or profile.cache_headers != []
        or profile.latency_ms is None or LIVENESS.search(profile.path)
    ):  # fmt: skip
        return []
    median = profile.latency_ms.median
    severity: Severity = "MEDIUM" if median >= CACHE_SLOW_MS else "LOW"
    return [Finding(
        endpoint=profile.name, kind="cacheable", severity=severity,
        title=f"Same bytes every time, no cache headers: {median:.3g} ms per request",
        evidence={"identical_answers": "yes (probe pass, over a second apart)",
                  "cache_headers": "none", "median_ms": round(median, 3),
                  "bytes": round(profile.bytes_mean)},
        recommendation=(
            "Let a cache answer it: send Cache-Control: public, max-age=N (or an ETag and answer "
            "If-None-Match with 304) so clients and proxies reuse it, and/or cache it in the app "
            "with a timeout (Flask-Caching's @cache.cached(timeout=N)). A cache hit saves the "
            f"{median:.3g} ms the app spends on it."
        ),
    )]  # fmt: skip


def pool_wait(run: RunResult, pool: PoolStats) -> list[Finding]:
    share = pool.waits / pool.checkouts if pool.checkouts else 0.0
    if not pool.timeouts and share < POOL_WAIT_SHARE:
        return []
    server = run.server
    threads = server.threads if server else 1
    severity: Severity = (
        "HIGH" if pool.timeouts else "MEDIUM" if share >= POOL_MEDIUM_SHARE else "LOW"
    )
    evidence: dict[str, float | int | str] = {
        "checkouts": pool.checkouts, "waited": pool.waits, "wait_share": round(share, 3),
        "wait_ms_total": pool.wait_ms, "max_wait_ms": pool.max_wait_ms,
        "timeouts": pool.timeouts, "pool_per_process": pool.capacity,
        "threads_per_worker": threads,
    }  # fmt: skip
    if server:
        evidence["workers"] = server.workers
    size = (
        f"Each worker process has its own pool of {pool.capacity} (pool_size + max_overflow) "
        f"for {threads} thread(s)"
    )
    return [Finding(
        endpoint="all", kind="pool_wait", severity=severity,
        title=f"{pool.waits} of {pool.checkouts} pool checkouts waited for a connection"
        + (f", {pool.timeouts} timed out" if pool.timeouts else ""),
        evidence=evidence,
        recommendation=(
            f"{size}: give create_engine pool_size at least the threads per worker "
            f"({threads}), keeping workers x pool_size under the database's connection limit; "
            "and hold connections for less time (close the session before slow non-database work)."
        ),
    )]  # fmt: skip


# --- priorities -------------------------------------------------------------------------------

NEXT_RUN = {
    "n_plus_one": "the statement count per request drops to about the figure above and this "
    "finding is gone",
    "missing_index": "the plan of this statement uses the index (the plan is kept in "
    "results.json) and this finding is gone; the statement's time in the SQL section drops",
    "cacheable": "the probe pass sees the cache headers and this finding is gone; the time "
    "saved shows where a cache sits in front of the app (perfgate measures the app directly)",
    "pool_wait": "the pool figures in results.json show no waits and no timeouts, and this "
    "finding is gone",
    "large_payload": "the probe pass sees Content-Encoding: gzip (or fewer bytes) and this "
    "finding is gone",
}


def hurt_most(run: RunResult) -> LoadLevel | None:
    levels = [lv for lv in run.load if lv.requests and lv.latency_ms.get("p95") is not None]
    return max(levels, key=lambda lv: lv.latency_ms["p95"], default=None)


def _saving_ms(run: RunResult, finding: Finding) -> float | None:
    """The time the fix would save per request of the endpoint, from this run's figures."""
    evidence = finding.evidence
    if finding.kind == "n_plus_one":
        runs, spent = evidence.get("statement_runs"), evidence.get("statement_time_ms")
        if isinstance(runs, int) and isinstance(spent, float | int) and runs:
            return spent * (runs - 1) / runs
    if finding.kind == "missing_index":
        before, after = evidence.get("copy_ms_before"), evidence.get("copy_ms_after")
        runs = evidence.get("statement_runs")
        if (
            isinstance(before, float | int)
            and isinstance(after, float | int)
            and isinstance(runs, int)
        ):
            return max(0.0, before - after) * runs
        spent = evidence.get("statement_time_ms")  # PostgreSQL: at most the statement's time
        return float(spent) if isinstance(spent, float | int) else None
    if finding.kind == "cacheable":
        median = evidence.get("median_ms")
        return float(median) if isinstance(median, float | int) else None
    if finding.kind == "pool_wait" and run.pool is not None:
        requests = sum(lv.requests for lv in run.load)
        return run.pool.wait_ms / requests if requests else None
    return None


def prioritize(run: RunResult, findings: list[Finding]) -> list[Finding]:
    """The findings, each with its measured saving and what the next run will show; the order
    is kept (ranked views sort by `saving_ms`)."""
    worst = hurt_most(run)
    out = []
    for finding in findings:
        saving = _saving_ms(run, finding)
        share = None
        if saving is not None and worst is not None:
            rates = {e.name: e.rps for e in worst.endpoints}
            rps = worst.rps if finding.endpoint == "all" else rates.get(finding.endpoint)
            if rps is not None:
                share = round(saving * rps / 1000, 4)  # worker-seconds per second there
        out.append(finding.model_copy(update={
            "saving_ms": None if saving is None else round(saving, 4),
            "saving_share": share,
            "next_run": NEXT_RUN.get(finding.kind),
        }))  # fmt: skip
    return out


def ranked(findings: list[Finding]) -> list[Finding]:
    """Findings whose fix has a measured saving, the largest saving first."""
    measured = [f for f in findings if f.saving_ms is not None and f.saving_ms > 0]
    return sorted(measured, key=lambda f: (-(f.saving_ms or 0.0), f.kind, f.endpoint))
