"""The few lines a terminal or a CI log shows after a check: the verdict, what failed, where the
report is. Both shells print these."""

from __future__ import annotations

from perfgate.judge.advice import ranked
from perfgate.layout import Layout
from perfgate.report.advice import folded
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
    covered = folded(results)  # what the verdict line's advice already says
    if covered:
        lines.append(
            f"  inconclusive {len(covered)} check(s) this history cannot judge (see above)"
        )
    lines += [
        f"  {c.status:<12} {c.endpoint} {c.phase} {c.metric}: {c.message}"
        for c in results.checks
        if c.status in ("fail", "inconclusive") and c not in covered
    ]
    # One line per serious finding, its endpoints listed (not the same line per endpoint).
    serious: dict[tuple[str, str, str], list[str]] = {}
    for f in results.findings:
        if f.severity in ("CRITICAL", "HIGH"):
            serious.setdefault((f.severity, f.kind, f.title), []).append(f.endpoint)
    lines += [
        f"  finding      {severity} {', '.join(dict.fromkeys(names))} {kind}: {title}"
        for (severity, kind, title), names in serious.items()
    ]
    lines += [
        f"  top fix      {f.endpoint} {f.kind}: saves {f.saving_ms:.3g} ms per request ({f.title})"
        for f in ranked(results.findings)[:1]
    ]
    lines.append(f"Report: {layout.report} (and report.html)  Results: {layout.results}")
    return lines
