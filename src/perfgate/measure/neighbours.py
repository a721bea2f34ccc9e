"""Outside load: the CPU time other processes used on the host while a phase was measured.

Why this way: inside a container the host's other processes are invisible in /proc, but
/proc/stat counts the whole host. So a phase reads, at its start and at its end, the host's busy
CPU time from /proc/stat and the CPU time of perfgate's own process tree (this process and every
descendant: the app's gunicorn master and workers, reference apps, load-generator workers), and
what the host spent beyond the tree is the outside load. Two reads per phase are enough: the
counters are cumulative, so nothing between the edges is missed.

Which /proc/stat columns count as busy: user, nice and system. Not idle or iowait (waiting), not
guest/guest_nice (already inside user), not steal (time the hypervisor gave to another guest: kept
apart, as the steal share), and not irq/softirq: the kernel charges the interrupt work of
perfgate's own loopback traffic there, to no process, so counting it would make every load phase
look busy.

A process of the tree counts with utime+stime plus cutime+cstime, the time of its children it
has waited for, so a worker that exits mid-phase and is reaped by its master is not lost. A
process orphaned mid-phase leaves the tree and counts as outside for the rest of it (rare: the
app's processes are waited for by their parents).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from perfgate.hostload import HostLoad, PhaseLoad

PROC = Path("/proc")
NO_PROC = "no /proc/stat on this system (Linux only): the host's outside load was not measured"
# Switches the meter off on this machine (`PERFGATE_HOST_LOAD=0`): for the test suite, whose
# checks must not turn inconclusive because another job shares the machine (the busy-machine
# tests switch it back on).
SWITCH_ENV = "PERFGATE_HOST_LOAD"
SWITCHED_OFF = f"{SWITCH_ENV}=0 on this machine: the host's outside load was not measured"
BY_URL = (
    "the app is reached by URL, so its CPU time cannot be told from other processes': the "
    "host's outside load was not measured"
)


@dataclass(frozen=True)
class Snapshot:
    """The cumulative counters at one moment, in clock ticks (USER_HZ)."""

    wall: float
    busy: int  # user + nice + system, the whole host
    steal: int
    total: int  # every column but guest/guest_nice (counted inside user)
    ours: int  # perfgate's process tree


def available() -> bool:
    return (PROC / "stat").is_file()


def snapshot(roots: Sequence[int] | None = None) -> Snapshot:
    """The counters now; `roots`: the processes whose trees are ours (default: this one)."""
    wall = time.monotonic()
    fields = [int(v) for v in (PROC / "stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields + [0] * (8 - len(fields))
    total = user + nice + system + idle + iowait + irq + softirq + steal
    ours = tree_ticks([os.getpid()] if roots is None else roots)
    return Snapshot(wall, user + nice + system, steal, total, ours)


def tree_ticks(roots: Sequence[int]) -> int:
    """CPU ticks of every process in the trees under `roots` (children waited for included)."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:  # gone between the listing and the read
            continue
        # The command name, in parentheses, may hold spaces: split after its closing one.
        rest = text[text.rfind(")") + 2 :].split()
        pid = int(entry.name)
        parents[pid] = int(rest[1])
        ticks[pid] = sum(int(v) for v in rest[11:15])  # utime stime cutime cstime
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    seen: set[int] = set()
    todo = [pid for pid in roots if pid in ticks]
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo += children.get(pid, [])
    return sum(ticks[pid] for pid in seen)


def between(
    start: Snapshot,
    end: Snapshot,
    phase: Literal["profile", "load"],
    concurrency: int | None = None,
) -> PhaseLoad:
    """The phase from `start` to `end`: outside cores and steal share."""
    hz = os.sysconf("SC_CLK_TCK")
    wall = max(end.wall - start.wall, 1e-6)
    outside = (end.busy - start.busy) - (end.ours - start.ours)
    total = end.total - start.total
    return PhaseLoad(
        phase=phase,
        concurrency=concurrency,
        wall_s=round(wall, 3),
        outside_cores=round(max(outside, 0) / hz / wall, 3),
        steal_share=round((end.steal - start.steal) / total, 3) if total > 0 else 0.0,
    )


def why_not_measured(reached_by_url: bool) -> str | None:
    if os.environ.get(SWITCH_ENV) == "0":
        return SWITCHED_OFF
    if reached_by_url:
        return BY_URL
    return None if available() else NO_PROC


class HostMeter:
    """The phases of one measurement; A/B's two sides share one meter (their phases are one)."""

    def __init__(self, reached_by_url: bool = False) -> None:
        self.phases: list[PhaseLoad] = []
        self.note = why_not_measured(reached_by_url)

    @contextmanager
    def phase(
        self, phase: Literal["profile", "load"], concurrency: int | None = None
    ) -> Iterator[None]:
        """Measure the phase in the block; a phase that breaks is not recorded."""
        if self.note:
            yield
            return
        start = snapshot()
        yield
        self.phases.append(between(start, snapshot(), phase, concurrency))

    def result(self) -> HostLoad:
        return HostLoad(phases=list(self.phases), note=self.note)
