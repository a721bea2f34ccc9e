"""`perfgate history` as text: per endpoint and metric, the steps of the stored baseline history
(perfgate.judge.steps), and the runs a check from this tree would be compared with."""

from __future__ import annotations

from pathlib import Path

from perfgate.judge.steps import JUDGED_RUNS, HistoryPlan, burst_minutes, history_series, short


def render_history(plan: HistoryPlan, path: Path) -> str:
    runs = plan.runs
    if not runs:
        return f"{path}: holds no runs; record some on main with `perfgate baseline`.\n"
    lines = [
        f"{path}: {len(runs)} run(s), {runs[0].created_at[:10]} to {runs[-1].created_at[:10]}",
        "",
    ]
    series = [(s.endpoint, s.metric) for s in history_series(runs)]
    width = max((len(f"{n} {m}") for n, m in series), default=0)
    for name, metric in series:
        label = f"{name} {metric}".ljust(width)
        found = [s for s in plan.steps if s.endpoint == name and s.metric == metric]
        if not found:
            lines.append(f"  {label}  no step")
        for step in found:
            # In time per request, as the notes say it: for throughput, +25% is a quarter slower.
            lines.append(
                f"  {label}  {step.change:+.1%} at run {step.index + 1}, "
                f"{short(step.commit)} ({step.created_at[:10]}): "
                f"{step.span()} (p = {step.p_value:.3f})"
            )
    if any(not s.cuts for s in plan.steps):
        lines.append(
            "  (throughput steps are shown, not cut at: load is not divided by the host's speed, "
            "so a step there may be the host's)"
        )
    first, last = plan.judged_start, plan.end
    oldest, newest = (short(runs[i].environment.git_commit) for i in (first, last - 1))
    if plan.base_index is None:
        base = "this tree's base commit is not among the runs' commits (or git cannot say), so "
        base += "the newest segment is used"
    else:
        run = runs[plan.base_index]
        base = f"base: run {plan.base_index + 1}, {short(run.environment.git_commit)}"
        base += ", the newest run of HEAD or an ancestor of it"
    lines += [
        "",
        f"Segment: runs {plan.start + 1}-{plan.end} ({base}).",
        f"A check from here compares with runs {first + 1}-{last} "
        f"({last - first} run(s), the segment's newest, at most {JUDGED_RUNS}): "
        f"{oldest} to {newest}.",
    ]
    minutes = burst_minutes(plan.judged)
    if minutes is not None:
        lines.append(
            f"Those runs were recorded within {minutes} minute(s): their spread understates a "
            "later run's; record baselines on separate pushes to main."
        )
    return "\n".join(lines) + "\n"
