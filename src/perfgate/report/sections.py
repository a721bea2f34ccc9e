"""The report's explaining sections: findings with their evidence, SQL statements, ratings, charts.

Markdown fragments (lists of lines) that report.py places; every piece of text that came from
the app (endpoint names, statement text) passes through `cell`.
"""

from __future__ import annotations

from collections.abc import Callable

from perfgate.judge.diagnose import RATINGS
from perfgate.report.charts import Chart, caption, load_charts, mermaid
from perfgate.report.text import cell, plain
from perfgate.results import EndpointChanges, EndpointProfile, Finding, ResultsFile

SEVERITY_ICONS = {"CRITICAL": "🟥", "HIGH": "🟧", "MEDIUM": "🟨", "LOW": "🟦"}
SUMMARY_MAX = 8
SHAPE_CHARS = 160


def _evidence(finding: Finding) -> str:
    def show(value: float | int | str) -> str:
        return plain(value) if isinstance(value, float) else cell(value)

    return ", ".join(f"{cell(k)} = {show(v)}" for k, v in finding.evidence.items())


def findings_summary(findings: list[Finding]) -> list[str]:
    """One line per finding kind and severity, most severe first, naming its endpoints (the
    same finding on five endpoints is one line, not five); the evidence is in
    `findings_details`."""
    if not findings:
        return []
    groups: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        groups.setdefault((f.severity, f.kind), []).append(f)
    lines = ["### Findings", ""]
    for (severity, kind), group in list(groups.items())[:SUMMARY_MAX]:
        titles = {f.title for f in group}
        if len(titles) == 1:
            where = ", ".join(dict.fromkeys(cell(f.endpoint) for f in group))
            text = f"{cell(group[0].title)} ({where})"
        else:
            text = f"{cell(kind)}: " + "; ".join(
                f"{cell(f.endpoint)}: {cell(f.title)}" for f in group
            )
        lines.append(f"- {SEVERITY_ICONS[severity]} **{severity}** {text}")
    if len(groups) > SUMMARY_MAX:
        lines.append(f"- ... and {len(groups) - SUMMARY_MAX} more kinds below.")
    return lines


def findings_details(findings: list[Finding]) -> list[str]:
    if not findings:
        return []
    lines = [f"<details><summary>Findings: evidence and what to do ({len(findings)})</summary>", ""]
    for f in findings:
        lines += [
            f"**{SEVERITY_ICONS[f.severity]} {f.severity} · {cell(f.kind)} · {cell(f.endpoint)}**: "
            f"{cell(f.title)}",
            "",
            f"- Evidence: {_evidence(f)}",
        ]
        if f.statement:
            lines.append(f"- Statement: {cell(f.statement)}")
        lines.append(f"- What to do: {cell(f.recommendation)}")
        if f.saving_ms is not None:
            lines.append(f"- Saves: {f.saving_ms:.3g} ms per request, as measured in this run")
        if f.next_run:
            lines.append(f"- Next run: {cell(f.next_run)}")
        lines.append("")
    lines += ["</details>"]
    return lines


def queries_details(profiles: list[EndpointProfile], note: str | None) -> list[str]:
    counted = [p for p in profiles if p.queries is not None]
    if not counted:
        if not note:
            return []
        # Most reasons are whole sentences already ("SQL statements are counted only when ...").
        said = (
            note if note.startswith("SQL statement") else f"SQL statements were not counted: {note}"
        )
        return [f"{cell(said)}."]
    lines = [
        "<details><summary>SQL statements per request</summary>",
        "",
        "| endpoint | statements | SQL time ms | most repeated statement |",
        "|---|---|---|---|",
    ]
    for p in counted:
        assert p.queries is not None
        top = max(p.queries.shapes, key=lambda shape: shape.count, default=None)
        shape = "-"
        if top is not None:
            text = top.shape if len(top.shape) <= SHAPE_CHARS else top.shape[:SHAPE_CHARS] + "..."
            shape = f"{top.count} × {cell(text)}"
        per_request = f"{p.queries_per_request:g}" if p.queries_per_request is not None else "-"
        lines.append(f"| {cell(p.name)} | {per_request} | {plain(p.queries.time_ms)} | {shape} |")
    lines += [
        "",
        "Counted exactly, outside the timed requests, through SQLAlchemy's engine events; a "
        "statement's shape has its literals and IN-lists folded.",
    ]
    if note:
        lines.append(f"Note: {cell(note)}.")
    return [*lines, "", "</details>"]


def ratings_legend() -> str:
    limits = [f"{name} ≤ {limit:g} ms" for limit, name in RATINGS[:-1]]
    return (
        f"Rating by sequential p95: {', '.join(limits)}, {RATINGS[-1][1]} above "
        f"{RATINGS[-2][0]:g} ms."
    )


def load_charts_section(
    results: ResultsFile, render: Callable[[Chart], str] = mermaid
) -> list[str]:
    charts = load_charts(results.run.load, results.baseline_load)
    if not charts:
        return []
    lines = ["<details><summary>Charts: throughput and latency against concurrency</summary>", ""]
    for chart in charts:
        lines += [render(chart), "", caption(chart), ""]
    return [*lines, "</details>"]


_GROWTH_LABEL = {
    "calls": "Python calls per request",
    "library calls": "library calls per request",
    "instructions": "instructions per request (inclusive)",
    "statements": "SQL statements per request",
}


def what_changed_section(changes: list[EndpointChanges]) -> list[str]:
    """Per regressed endpoint, the exact figures that grew between base and head."""
    if not changes:
        return []
    lines = ["### What changed", ""]
    for change in changes:
        lines.append(f"**{cell(change.endpoint)}**")
        lines.append("")
        for g in change.growth:
            grown = f"{g.head / g.base - 1:+.0%}" if g.base else "new"
            lines.append(
                f"- {_GROWTH_LABEL[g.kind]}: `{cell(g.name)}` {_count(g.base)} -> "
                f"{_count(g.head)} ({grown})"
            )
        lines.append("")
    lines.append(
        "Counted, not timed: calls by a profiler on untimed requests, instructions by callgrind, "
        "statements by the SQL wrapper; the same request of the same code gives the same figures."
    )
    return lines


def _count(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.2f} M"
    if value >= 1e4:
        return f"{value / 1e3:.1f} k"
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


def instructions_details(profiles: list[EndpointProfile], note: str | None) -> list[str]:
    """Instructions per request of each endpoint, with how they were counted."""
    counted = [p for p in profiles if p.instructions is not None]
    if not counted:
        return [f"Instructions per request: {cell(note)}."] if note else []
    lines = [
        "<details><summary>Instructions per request (callgrind)</summary>",
        "",
        "| endpoint | instructions per request | batches x requests | spread over batches |",
        "| --- | --- | --- | --- |",
    ]
    for p in counted:
        assert p.instructions is not None
        figures = p.instructions.per_request
        spread = (max(figures) - min(figures)) / p.instructions.mean if p.instructions.mean else 0
        lines.append(
            f"| {cell(p.name)} | {_count(p.instructions.mean)} | {len(figures)} x "
            f"{p.instructions.requests_per_batch} | {spread:.2%} |"
        )
    lines += [
        "",
        "Counted by Valgrind's callgrind on one extra app instance with one sync worker, after "
        "the timed phases: untimed requests in batches, from the app's call to the response's "
        "close (the server's own loop is left out), no address randomization, a fixed hash seed."
        + (f" {cell(note)}." if note else ""),
        "",
        "</details>",
    ]
    return lines
