"""What a stored history too short to judge can and cannot show, said once in the verdict line.

Against one or two stored runs the run-to-run spread is assumed (`compare.noise_floor`), so every
timing check can detect only large changes. Listing each check with its minimum detectable effect
reads as a broken tool; one sentence saying what would be visible, and what would make the check
useful (an A/B, or more stored runs), reads as advice.
"""

from __future__ import annotations

import statistics

from perfgate.results import Check, ResultsFile

MEASURED_FROM = 3  # stored runs from which the run-to-run spread is measured (judge/stats.py)


def judged(checks: list[Check], phase: str) -> list[Check]:
    """The statistical checks of a phase (exact counts and sizes have no power to speak of)."""
    metrics = ("median", "p95") if phase == "profile" else ("rps",)
    return [
        c
        for c in checks
        if c.kind == "relative" and c.phase == phase and c.metric in metrics and c.mde is not None
    ]


def short_history(results: ResultsFile) -> str | None:
    """The advice when most timing checks of a stored-mode run are underpowered, else None."""
    if results.mode != "baseline" or results.baseline_runs < 1:
        return None
    timing = judged(results.checks, "profile")
    weak = [c for c in timing if c.underpowered]
    if not timing or 2 * len(weak) < len(timing):
        return None
    typical = statistics.median(c.mde or 0.0 for c in timing)
    visible = f"{1 + typical:.1f}x" if typical >= 1 else f"{typical:+.0%}"
    load = [c.mde or 0.0 for c in judged(results.checks, "load") if c.underpowered]
    if load:
        # A drop the check detects: throughput divided by (1 + mde).
        fall = 1 - 1 / (1 + statistics.median(load))
        visible += f" (load throughput: falls of more than {fall:.0%})"
    n = results.baseline_runs
    runs = f"{n} stored run{'s' if n != 1 else ''}"
    if n < MEASURED_FROM:
        more = MEASURED_FROM - n
        record = f"record {more} more run{'s' if more != 1 else ''} on main (`perfgate baseline`)"
    else:
        record = "record more runs on main or raise profile.trials"
    return (
        f"with {runs}, only changes of about {visible} are visible: use "
        f"`perfgate check --against <base ref>`, or {record}"
    )


def folded(results: ResultsFile) -> list[Check]:
    """The inconclusive checks the verdict line's advice covers: the underpowered ones."""
    if short_history(results) is None:
        return []
    weak = judged(results.checks, "profile") + judged(results.checks, "load")
    return [c for c in weak if c.underpowered and c.status == "inconclusive"]
