"""The report's priorities (fixes ranked by the time they save, as measured) and query plans.

Markdown fragments that markdown.py places; text from the app passes through `cell`.
"""

from __future__ import annotations

from perfgate.judge.advice import hurt_most, ranked
from perfgate.report.text import cell
from perfgate.results import EndpointProfile, Finding, RunResult

PRIORITIES_MAX = 8
PLAN_LINES = 6


def priorities(findings: list[Finding], run: RunResult) -> list[str]:
    """Fixes with a measured saving, the largest first; the evidence is in the findings below."""
    measured = ranked(findings)
    if not measured:
        return []
    worst = hurt_most(run)
    at = f"share of a worker freed at {worst.concurrency} connections" if worst else ""
    lines = [
        "### Fixes by measured saving",
        "",
        f"| # | fix | where | saves per request |{f' {at} |' if at else ''}",
        f"|---|---|---|---|{'---|' if at else ''}",
    ]
    for number, f in enumerate(measured[:PRIORITIES_MAX], 1):
        share = f" {f.saving_share * 100:.3g}% |" if at and f.saving_share is not None else " - |"
        lines.append(
            f"| {number} | {cell(f.kind)}: {cell(f.title)} | {cell(f.endpoint)} | "
            f"{f.saving_ms:.3g} ms |{share if at else ''}"
        )
    lines += [
        "",
        "Savings come from this run's own figures (the statement times of the probe pass, the "
        "index timed on a scratch copy, the profile's median, the pool's waits); the share of a "
        "worker is the saving times the endpoint's requests per second at the load level with "
        "the highest p95.",
    ]
    return lines


def plans_details(profiles: list[EndpointProfile]) -> list[str]:
    """Each endpoint's statement plans that read a whole table, and the index each lacks."""
    rows = []
    for profile in profiles:
        for plan in profile.queries.plans if profile.queries else []:
            for scan in plan.scans:
                verified = (
                    "yes, on a copy" if scan.verified
                    else "no: the plan did not change" if scan.verified is False
                    else scan.verify_note or "not tried"
                )  # fmt: skip
                rows.append(
                    f"| {cell(profile.name)} | {cell(plan.database)} | {cell(scan.line)} | "
                    f"{scan.rows} | {cell(scan.create_index)} | {cell(verified)} |"
                )
    if not rows:
        return []
    return [
        "<details><summary>Query plans: full scans on unindexed columns</summary>",
        "",
        "| endpoint | database | plan line | rows | index to add | verified |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        "Plans are the database's own (EXPLAIN QUERY PLAN on SQLite, EXPLAIN on PostgreSQL), "
        "taken through the app's connection in the untimed probe pass; every plan is in "
        "results.json.",
        "",
        "</details>",
    ]
