"""The report's explaining sections: findings with their evidence, SQL statements, ratings, charts.

Markdown fragments (lists of lines) that report.py places; every piece of text that came from
the app (endpoint names, statement text) passes through `cell`.
"""

from __future__ import annotations

from collections.abc import Callable

from perfgate.judge.diagnose import RATINGS
from perfgate.report.charts import Chart, caption, load_charts, mermaid
from perfgate.report.text import cell
from perfgate.results import EndpointProfile, Finding, ResultsFile

SEVERITY_ICONS = {"CRITICAL": "🟥", "HIGH": "🟧", "MEDIUM": "🟨", "LOW": "🟦"}
SUMMARY_MAX = 8
SHAPE_CHARS = 160


def _evidence(finding: Finding) -> str:
    def show(value: float | int | str) -> str:
        return f"{value:.4g}" if isinstance(value, float) else cell(value)

    return ", ".join(f"{cell(k)} = {show(v)}" for k, v in finding.evidence.items())


def findings_summary(findings: list[Finding]) -> list[str]:
    """One line per finding, most severe first; the evidence is in `findings_details`."""
    if not findings:
        return []
    lines = ["### Findings", ""]
    for f in findings[:SUMMARY_MAX]:
        lines.append(
            f"- {SEVERITY_ICONS[f.severity]} **{f.severity}** {cell(f.endpoint)}: {cell(f.title)}"
        )
    if len(findings) > SUMMARY_MAX:
        lines.append(f"- ... and {len(findings) - SUMMARY_MAX} more below.")
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
        return [f"SQL statements per request were not counted: {cell(note)}."] if note else []
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
        lines.append(f"| {cell(p.name)} | {per_request} | {p.queries.time_ms:.3g} | {shape} |")
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
