"""Charts of the load levels: throughput and p95 latency by concurrency, baseline beside current.

Two renderings of one `Chart`: a mermaid `xychart-beta` block (drawn by GitHub inside a comment)
and a self-contained SVG for the HTML report (no script, no external file). In both the baseline
is drawn as bars and the current run as a line. Only numbers reach a chart, never app text.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from perfgate.results import LoadLevel, LoadPoint, RunResult

WIDTH, HEIGHT = 520, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 36, 48


@dataclass(frozen=True)
class Chart:
    title: str
    y_label: str
    x: list[int]  # concurrency levels
    current: list[float]
    baseline: list[float] | None  # same length as x, or None when the baseline lacks a level


def baseline_points(runs: Sequence[RunResult]) -> list[LoadPoint]:
    """Per concurrency level, the median over the baseline runs of rps, p50 and p95."""
    by_level: dict[int, list[LoadLevel]] = {}
    for run in runs:
        for level in run.load:
            by_level.setdefault(level.concurrency, []).append(level)

    def median(values: list[float | None]) -> float | None:
        present = [v for v in values if v is not None]
        return round(statistics.median(present), 4) if present else None

    return [
        LoadPoint(
            concurrency=c,
            rps=round(statistics.median(lv.rps for lv in levels), 2),
            p50_ms=median([lv.latency_ms.get("p50") for lv in levels]),
            p95_ms=median([lv.latency_ms.get("p95") for lv in levels]),
        )
        for c, levels in sorted(by_level.items())
    ]


def load_charts(levels: list[LoadLevel], baseline: list[LoadPoint]) -> list[Chart]:
    """Throughput and p95 latency charts; none with fewer than two levels (a table says it)."""
    ordered = sorted(levels, key=lambda lv: lv.concurrency)
    if len(ordered) < 2:
        return []
    x = [lv.concurrency for lv in ordered]
    base = {p.concurrency: p for p in baseline}
    rps_base = [base[c].rps for c in x] if all(c in base for c in x) else None
    p95_values = [base[c].p95_ms if c in base else None for c in x]
    p95_base = [v for v in p95_values if v is not None]
    return [
        Chart("Throughput by concurrency", "req/s", x, [lv.rps for lv in ordered], rps_base),
        Chart(
            "p95 latency by concurrency",
            "ms",
            x,
            [lv.latency_ms.get("p95", 0.0) for lv in ordered],
            p95_base if len(p95_base) == len(x) else None,
        ),
    ]


def _top(chart: Chart) -> float:
    highest = max([*chart.current, *(chart.baseline or []), 0.0])
    return _nice(highest * 1.1) if highest > 0 else 1.0


def _nice(value: float) -> float:
    """A round axis maximum at or above value (1, 2, 2.5, 5 times a power of ten)."""
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def _num(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"  # never 1.234e+04


def mermaid(chart: Chart) -> str:
    lines = [
        "```mermaid",
        "xychart-beta",
        f'    title "{chart.title}"',
        f'    x-axis "connections" [{", ".join(str(c) for c in chart.x)}]',
        f'    y-axis "{chart.y_label}" 0 --> {_num(_top(chart))}',
    ]
    if chart.baseline is not None:
        lines.append(f"    bar [{', '.join(_num(v) for v in chart.baseline)}]")
    lines += [f"    line [{', '.join(_num(v) for v in chart.current)}]", "```"]
    return "\n".join(lines)


def caption(chart: Chart) -> str:
    if chart.baseline is None:
        return f"{chart.title}: the line is this run (no baseline at these levels)."
    return f"{chart.title}: bars are the baseline (median of its runs), the line is this run."


def svg(chart: Chart) -> str:
    """The chart as an inline SVG element: bars for the baseline, a line for this run."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = _top(chart)
    slot = plot_w / len(chart.x)

    def x_at(i: int) -> float:
        return LEFT + slot * (i + 0.5)

    def y_at(value: float) -> float:
        return TOP + plot_h * (1 - min(value, top) / top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" font-family="sans-serif" font-size="11">',
        f"<title>{chart.title}</title>",
        f'<text x="{WIDTH / 2}" y="18" text-anchor="middle" font-size="13">{chart.title}</text>',
    ]
    for k in range(5):
        value = top * k / 4
        y = y_at(value)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_num(value)}</text>'
        )
    if chart.baseline is not None:
        for i, value in enumerate(chart.baseline):
            y = y_at(value)
            parts.append(
                f'<rect x="{x_at(i) - slot * 0.3:.1f}" y="{y:.1f}" width="{slot * 0.6:.1f}" '
                f'height="{TOP + plot_h - y:.1f}" fill="#c8ccd2"/>'
            )
    points = " ".join(f"{x_at(i):.1f},{y_at(v):.1f}" for i, v in enumerate(chart.current))
    parts.append(f'<polyline points="{points}" fill="none" stroke="#1f6feb" stroke-width="2"/>')
    for i, value in enumerate(chart.current):
        parts.append(f'<circle cx="{x_at(i):.1f}" cy="{y_at(value):.1f}" r="3" fill="#1f6feb"/>')
    for i, c in enumerate(chart.x):
        parts.append(
            f'<text x="{x_at(i):.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">{c}</text>'
        )
    parts += [
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 8}" text-anchor="middle">connections</text>',
        f'<text x="14" y="{TOP + plot_h / 2}" text-anchor="middle" '
        f'transform="rotate(-90 14 {TOP + plot_h / 2})">{chart.y_label}</text>',
        _legend(chart.baseline is not None),
        "</svg>",
    ]
    return "".join(parts)


def _legend(with_baseline: bool) -> str:
    x = WIDTH - RIGHT - 150
    legend = (
        f'<line x1="{x}" y1="28" x2="{x + 18}" y2="28" stroke="#1f6feb" stroke-width="2"/>'
        f'<text x="{x + 22}" y="32">this run</text>'
    )
    if with_baseline:
        legend += (
            f'<rect x="{x + 80}" y="22" width="12" height="12" fill="#c8ccd2"/>'
            f'<text x="{x + 96}" y="32">baseline</text>'
        )
    return legend
