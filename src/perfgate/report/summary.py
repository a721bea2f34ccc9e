"""The few lines a terminal or a CI log shows after a check: the verdict, what failed, where the
report is. Both shells print these."""

from __future__ import annotations

from perfgate.judge.advice import ranked
from perfgate.layout import Layout
from perfgate.report.markdown import verdict_text
from perfgate.results import ResultsFile


def summary_lines(results: ResultsFile, layout: Layout) -> list[str]:
    lines = [verdict_text(results)]
    sides = [("", results.run)]
    if results.base_run is not None:
        sides = [("base ", results.base_run), ("head ", results.run)]
    lines += [
        f"  incomplete   {side}{run.incomplete_reason}" for side, run in sides if not run.complete
    ]
    lines += [
        f"  {c.status:<12} {c.endpoint} {c.phase} {c.metric}: {c.message}"
        for c in results.checks
        if c.status in ("fail", "inconclusive")
    ]
    lines += [
        f"  finding      {f.severity} {f.endpoint} {f.kind}: {f.title}"
        for f in results.findings
        if f.severity in ("CRITICAL", "HIGH")
    ]
    lines += [
        f"  top fix      {f.endpoint} {f.kind}: saves {f.saving_ms:.3g} ms per request ({f.title})"
        for f in ranked(results.findings)[:1]
    ]
    lines.append(f"Report: {layout.report} (and report.html)  Results: {layout.results}")
    return lines
