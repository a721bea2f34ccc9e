"""The busy-machine rule: a timing change measured while other work ran on the host is not judged.

Another process that takes CPU during a phase slows the app and the load generator for reasons
that have nothing to do with the code; the statistics cannot tell that slowdown from a
regression. So a relative timing check (profile median and p95, load throughput) that would
fail, measured in a phase where processes other than perfgate and the app used at least
`compare.outside_load` cores on average (or the hypervisor stole that much), is inconclusive
instead, with the figure in its message. Exact checks (statement counts, sizes, instructions) are
untouched: contention cannot move them.

Why a pass stays a pass: contention only ever makes the measured side slower. Against a stored
baseline that pushes the change toward a fail, so a change that passes despite it passed a
harder test. In A/B both sides run interleaved in the same phase, so contention falls on both;
whatever part falls on one side's trials more than the other's is spread between trials, which
the paired interval is built from: it widens, it does not move a regression inside the tolerance.
"""

from __future__ import annotations

from perfgate.config import Config
from perfgate.hostload import PhaseLoad
from perfgate.results import Check, RunResult

# How a check set aside by this rule starts its message; the report's verdict line looks for it.
BUSY = "another process used"
TIMING = {("profile", "median"), ("profile", "p95"), ("load", "rps")}


def busy_phases(config: Config, run: RunResult) -> dict[str, PhaseLoad]:
    """The run's phases that overlapped significant outside load, by the check endpoint label
    they concern ("profile" for every profile check, "all @ c=N" for a load level)."""
    if run.host_load is None:
        return {}
    limit, cpus = config.compare.outside_load, max(run.environment.cpus, 1)
    found = {}
    for phase in run.host_load.phases:
        if phase.outside_cores >= limit or phase.steal_share * cpus >= limit:
            key = "profile" if phase.phase == "profile" else f"all @ c={phase.concurrency}"
            found[key] = phase
    return found


def why_busy(phase: PhaseLoad, cpus: int) -> str:
    where = "profile phase" if phase.phase == "profile" else f"load phase at c={phase.concurrency}"
    stolen = phase.steal_share * cpus
    if phase.outside_cores >= stolen:
        who = (
            f"{BUSY} {phase.outside_cores:.2g} cores during the {where} (not perfgate, not the app)"
        )
    else:
        who = f"{BUSY} the host: the hypervisor took {stolen:.2g} cores during the {where} (steal)"
    return f"{who}: not judged, rerun on a quiet machine"


def set_aside_busy(
    config: Config, checks: list[Check], run: RunResult
) -> tuple[list[Check], list[str]]:
    """The checks with every failing timing change of a busy phase made inconclusive, and the
    note that says so (none when no check was affected)."""
    busy = busy_phases(config, run)
    cpus = max(run.environment.cpus, 1)
    result, affected = [], 0
    for check in checks:
        key = "profile" if check.phase == "profile" else check.endpoint
        phase = busy.get(key)
        timing = check.kind == "relative" and (check.phase, check.metric) in TIMING
        if phase is None or not timing or check.status != "fail":
            result.append(check)
            continue
        affected += 1
        was = f" (it would have failed: {check.message})" if check.message else ""
        update = {"status": "inconclusive", "message": why_busy(phase, cpus) + was}
        result.append(check.model_copy(update=update))
    if not affected:
        return result, []
    phases = ", ".join(f"{p.label} {p.outside_cores:.2g} cores" for p in busy.values())
    note = (
        f"Busy machine: other processes used CPU during measured phases ({phases}; limit "
        f"compare.outside_load = {config.compare.outside_load:g} cores); {affected} timing "
        "change(s) that would have failed were not judged and are inconclusive. Rerun on a quiet "
        "machine."
    )
    return result, [note]


def is_busy(check: Check) -> bool:
    return check.status == "inconclusive" and check.message.startswith(BUSY)
