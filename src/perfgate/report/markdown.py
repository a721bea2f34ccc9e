"""Results -> markdown for a reviewer in a hurry: the verdict first, then what changed, then
the tables, then how it was measured. A pure function of the results file."""

from __future__ import annotations

from collections.abc import Callable

from perfgate.judge.diagnose import explained_plateau, rating
from perfgate.report.advice import folded, short_history
from perfgate.report.charts import Chart, mermaid
from perfgate.report.fixes import plans_details, priorities
from perfgate.report.hostload import busy_tail, host_load_section
from perfgate.report.sections import (
    findings_details,
    findings_summary,
    instructions_details,
    load_charts_section,
    queries_details,
    ratings_legend,
    what_changed_section,
)
from perfgate.report.text import cell, percent, plain
from perfgate.results import Check, EndpointProfile, LoadLevel, ResultsFile

ICONS = {"pass": "✅", "fail": "❌", "inconclusive": "⚠️", "skipped": "➖", "error": "⛔"}
STATUS_ORDER = {"fail": 0, "inconclusive": 1, "pass": 2, "skipped": 3}


def verdict_text(results: ResultsFile) -> str:
    """The verdict in one plain line, e.g. `perfgate: ✅ PASS (12 pass)`, with what a stored
    history too short to judge can show (report/advice.py)."""
    counts = {s: sum(1 for c in results.checks if c.status == s) for s in STATUS_ORDER}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    label = results.verdict.upper()
    advice = "; ".join(a for a in (busy_tail(results), short_history(results)) if a)
    tail = f": {advice}" if advice else ""
    return f"perfgate: {ICONS[results.verdict]} {label} ({summary or 'no checks'}){tail}"


def verdict_line(results: ResultsFile) -> str:
    return "## " + verdict_text(results)


def render_markdown(results: ResultsFile, chart: Callable[[Chart], str] = mermaid) -> str:
    """The report: verdict, changed checks and findings first; the rest folded in <details>.

    `chart` draws each chart (mermaid for GitHub; the HTML report passes its own SVG renderer).
    """
    run = results.run
    parts = [verdict_line(results), ""]
    if results.mode == "ab" and results.base_run is not None:
        base = results.base_run.environment.git_commit or "unknown"
        parts.append(
            f"Same-run A/B against {cell(results.against or '?')}: base commit {base[:12]} and "
            "this tree measured side by side, trials interleaved."
        )
    elif results.baseline_runs:
        parts.append(f"Compared with a baseline of {results.baseline_runs} run(s).")
    parts += [f"- {note}" for note in results.notes]
    parts += load_warnings(run.load)
    parts += ["", *_changed(results.checks, folded(results))]
    changes = what_changed_section(results.changes)
    if changes:
        parts += ["", *changes]
    if results.findings:
        parts += ["", *findings_summary(results.findings)]
        ranked = priorities(results.findings, run)
        parts += ["", *ranked] if ranked else []
    if results.checks:
        parts += [
            "",
            *details(f"All checks ({len(results.checks)})", _checks_table(results.checks)),
        ]
    power = _power_table(results.checks)
    if power:
        parts += ["", *details("Statistical power", power)]
    if results.findings:
        parts += ["", *findings_details(results.findings)]
    parts += ["", *details("Sequential profile", _profile_table(run.endpoints, results))]
    statements = queries_details(run.endpoints, run.queries_note)
    if statements:
        parts += ["", *statements]
    instructions = instructions_details(run.endpoints, run.instructions_note)
    if instructions:
        parts += ["", *instructions]
    plans = plans_details(run.endpoints)
    parts += ["", *plans] if plans else []
    if run.load:
        explained = explained_plateau(run)
        parts += ["", *details("Load test", _load_table(run.load, explained))]
    host = host_load_section(results)
    parts += ["", *host] if host else []
    charts = load_charts_section(results, chart)
    if charts:
        parts += ["", *charts]
    env = run.environment
    parts += [
        "",
        "<details><summary>Environment and how to reproduce</summary>",
        "",
        f"- App: {cell(run.app)}",
        f"- Python {env.python} on {env.platform}, {env.cpus} CPUs, gunicorn {env.gunicorn or '-'},"
        f" perfgate {env.perfgate}, commit {env.git_commit or 'unknown'}",
        f"- Config digest {run.config_digest}, measured at {run.created_at}",
        _reproduce(results),
        "",
        "</details>",
    ]
    return "\n".join(parts) + "\n"


def _reproduce(results: ResultsFile) -> str:
    if results.mode == "ab":
        ref = (results.against or "REF").split(" ")[0]
        return f"- Reproduce: `perfgate check --against {cell(ref)}`."
    return "- Reproduce: `perfgate baseline` on the base commit, then `perfgate check` on this one."


def _power_table(checks: list[Check]) -> list[str]:
    """Each relative check's minimum detectable effect against its tolerance."""
    judged = [c for c in checks if c.kind == "relative" and c.mde is not None]
    if not judged:
        return []
    lines = [
        "| | endpoint | phase | metric | detects (80% power, after Holm) | tolerance |",
        "|---|---|---|---|---|---|",
    ]
    for c in judged:
        mark = "⚡ underpowered" if c.underpowered else "ok"
        lines.append(
            f"| {mark} | {cell(c.endpoint)} | {c.phase} | {c.metric} | {_pct(c.mde)}"
            f" | {_pct(c.limit)} |"
        )
    lines += [
        "",
        "An underpowered check cannot tell a change of its tolerance from noise: it can pass or "
        "be inconclusive, but would fail only on a larger change. `perfgate calibrate` shows the "
        "tolerance each endpoint can hold; more trials or samples shrink the detectable change.",
    ]
    return lines


def details(summary: str, lines: list[str]) -> list[str]:
    """A collapsed section; the blank lines let GitHub render the markdown inside it."""
    return [f"<details><summary>{summary}</summary>", "", *lines, "", "</details>"]


def _changed(checks: list[Check], covered: list[Check]) -> list[str]:
    """The checks a reviewer must look at (failed or inconclusive), before anything else; those
    `covered` by the verdict line's advice are counted in one line, not listed."""
    if not checks:
        return ["No checks were configured."]
    flagged = [c for c in checks if c.status in ("fail", "inconclusive") and c not in covered]
    lines = []
    if covered:
        lines = [
            f"{len(covered)} check(s) are inconclusive only because this history cannot "
            "detect a change of their tolerance (the verdict line says what would); they are "
            "listed under All checks."
        ]
    if not flagged:
        if lines:
            return lines
        judged = sum(1 for c in checks if c.status == "pass")
        return [f"All {judged} judged check(s) pass; nothing changed beyond its tolerance."]
    return [*lines, *([""] if lines else []), *_checks_table(flagged, "### What needs a look")]


def _fmt(value: float | None) -> str:
    return "-" if value is None else plain(value)


def _metric(check: Check) -> str:
    """The metric as the table names it. The relative checks compare per-trial figures, whose
    mean differs from the same percentile over all requests (an absolute budget's, and the
    profile table's): a p95 of 30 requests sits lower than the p95 of 900 pooled from trials
    on a drifting host. So the two are labelled apart, never both just `p95`."""
    if check.kind == "relative" and check.metric in ("median", "p95"):
        return f"{check.metric} (trial mean)" if check.phase == "profile" else check.metric
    return {"p50_ms": "median (all requests)", "p95_ms": "p95 (all requests)",
            "p99_ms": "p99 (all requests)"}.get(check.metric, check.metric)  # fmt: skip


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1%}"


def row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def header(*names: str) -> list[str]:
    return [row(*names), row(*["---"] * len(names))]


def _checks_table(checks: list[Check], title: str = "") -> list[str]:
    ordered = sorted(checks, key=lambda c: STATUS_ORDER[c.status])
    lines = [
        *([title, ""] if title else []),
        *header("", "endpoint", "phase", "metric", "baseline", "current", "change (90% CI)",
                "limit", "p (Holm)", "why"),
    ]  # fmt: skip
    for c in ordered:
        if c.kind == "relative" and c.metric == "queries_per_request":
            # an exact count: the change is a number of statements, the limit the allowed growth
            change = (
                "-" if c.current is None or c.baseline is None else f"{c.current - c.baseline:+g}"
            )
            limit = f"+{c.limit:g}" if c.limit is not None else "-"
        elif c.kind == "relative":
            interval = "" if c.ci_low is None else f" ({_pct(c.ci_low)} .. {_pct(c.ci_high)})"
            change = f"{_pct(c.change)}{interval}"
            limit = f"±{c.limit:.0%}" if c.limit is not None else "-"
        else:
            change, limit = "-", _fmt(c.limit)
        current, baseline = _fmt(c.current), _fmt(c.baseline)
        if c.metric == "error_rate":  # a rate, written as the config writes it
            limit = "-" if c.limit is None else percent(c.limit)
            current = "-" if c.current is None else percent(c.current)
        p = "-" if c.p_value is None else f"{c.p_value:.2g}"
        lines.append(
            row(ICONS[c.status], cell(c.endpoint), c.phase, _metric(c), baseline, current,
                change, limit, p, cell(c.message))
        )  # fmt: skip
    return lines


def _profile_table(profiles: list[EndpointProfile], results: ResultsFile) -> list[str]:
    lines = [
        *header("endpoint", "requests", "median", "p95", "p99", "mean", "stdev", "min", "max",
                "errors", "bytes", "SQL/req", "rating"),
    ]  # fmt: skip
    for p in profiles:
        s = p.latency_ms
        errors = ", ".join(f"{k}: {v}" for k, v in p.errors.items()) or "0"
        if s is None:
            figures = ["-"] * 7
        else:
            figures = [_fmt(v) for v in (s.median, s.p95, s.p99, s.mean, s.stdev, s.min, s.max)]
        queries = "-" if p.queries_per_request is None else f"{p.queries_per_request:g}"
        lines.append(
            row(f"{cell(p.name)} ({p.method} {cell(p.path)})", p.requests, *figures, cell(errors),
                f"{p.bytes_mean:.0f}", queries, rating(s.p95 if s else None) or "-")
        )  # fmt: skip
    trials = len(profiles[0].trial_medians_ms) if profiles else 0
    count = results.run.instances
    rotated = f", rotating over {count} fresh app instances" if count > 1 else ""
    if rotated and results.mode == "ab":
        rotated += " per side"
    lines += [
        "",
        "Milliseconds, one request at a time (on one connection while the server keeps it "
        f"open), in {trials} trial(s) per endpoint after a warm-up{rotated}; relative checks "
        "compare per-trial medians and p95s. " + ratings_legend(),
    ]
    return lines + _time_budgets(profiles)


def _time_budgets(profiles: list[EndpointProfile]) -> list[str]:
    """Which endpoints a time budget gave fewer samples, and why (profile.time_budget_s)."""
    cut = [p for p in profiles if p.time_budget_s and p.warmup_ms]
    if not cut:
        return []
    shown = "; ".join(
        f"{cell(p.name)}: {p.requests} requests, to fit its time budget of {p.time_budget_s:g} s "
        f"at {p.warmup_ms:.1f} ms a request (the median of its warm-up)"
        for p in cut
    )
    return ["", f"Fewer samples where a time budget applied (profile.time_budget_s): {shown}."]


def _load_table(levels: list[LoadLevel], explained: str | None = None) -> list[str]:
    lines = [
        "### Load (open model at a fixed rate, all endpoints in turn)"
        if any(lv.model == "open" for lv in levels)
        else "### Load (closed loop, all endpoints in turn)",
        "",
        *header(
            "connections",
            "req/s",
            "success",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max ms",
            "errors",
            "client CPU µs/req",
        ),
    ]
    for lv in levels:
        lat = lv.latency_ms
        errors = ", ".join(f"{k}: {v}" for k, v in lv.errors.items()) or "0"
        lines.append(
            f"| {lv.concurrency} | {lv.rps:.1f} | {lv.success_rate:.2%} | {_fmt(lat.get('p50'))}"
            f" | {_fmt(lat.get('p95'))} | {_fmt(lat.get('p99'))} | {_fmt(lat.get('max'))}"
            f" | {cell(errors)} | {lv.client_cpu_us_per_request:.0f} |"
        )
    duration = levels[0].duration_s if levels else 0
    lines += ["", f"Each level ran for {duration:.1f} s after its warm-up; latency is per request."]
    if explained:
        lines += ["", explained]
    return lines + _load_self_check(levels)


def load_warnings(levels: list[LoadLevel]) -> list[str]:
    """The load engine's self-check, shown near the top: when the client (its CPU, open files,
    ephemeral ports) rather than the app may have been the limit, the load figures mislead."""
    return [f"- ⚠️ Load at c={lv.concurrency}: {cell(note)}" for lv in levels for note in lv.notes]


def _load_self_check(levels: list[LoadLevel]) -> list[str]:
    """How the open model kept its schedule, under the load table."""
    lines = []
    for lv in levels:
        if lv.model == "open":
            late = lv.send_lateness_ms.get("p99")
            lines.append(
                f"- c={lv.concurrency}: open model, {lv.rps:.1f} of "
                f"{plain(lv.target_rps or 0)} req/s "
                f"achieved, {lv.dropped} dropped, p99 send lateness {_fmt(late)} ms; latency is "
                "counted from each request's scheduled time."
            )
    return ["", *lines] if lines else []
