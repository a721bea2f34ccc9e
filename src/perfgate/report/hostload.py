"""The report's busy-machine lines: what other processes did on the host in each measured phase."""

from __future__ import annotations

from perfgate.hostload import HostLoad
from perfgate.judge.neighbours import is_busy
from perfgate.results import ResultsFile, RunResult


def host_load_section(results: ResultsFile) -> list[str]:
    """A small table, one row per measured phase (the confirmation's too), folded; or the note
    that says why nothing was measured."""
    runs: list[tuple[str, RunResult]] = [("", results.run)]
    if results.confirmation is not None:
        runs.append(("confirmation ", results.confirmation))
    rows: list[str] = []
    notes: list[str] = []
    for prefix, run in runs:
        load: HostLoad | None = run.host_load
        if load is None:
            continue
        if load.note:
            notes.append(f"- {prefix}{load.note}")
        rows += [
            f"| {prefix}{p.label} | {p.wall_s:.1f} | {p.outside_cores:.2f} | {p.steal_share:.1%} |"
            for p in load.phases
        ]
    if not rows and not notes:
        return []
    lines = [
        "<details><summary>Other work on the host</summary>",
        "",
        "CPU used by processes that are neither perfgate nor the app (cores, on average over "
        "the phase), and the share of the host's CPU time its hypervisor stole.",
        "",
    ]
    if rows:
        lines += ["| Phase | Seconds | Outside cores | Steal |", "|---|---|---|---|", *rows, ""]
    return [*lines, *notes, *([""] if notes else []), "</details>"]


def busy_tail(results: ResultsFile) -> str:
    """What the verdict line adds when a busy machine kept checks from being judged."""
    count = sum(1 for c in results.checks if is_busy(c))
    if not count:
        return ""
    return f"busy machine: {count} timing check(s) not judged, rerun on a quiet machine"
