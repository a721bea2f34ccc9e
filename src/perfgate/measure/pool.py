"""Connection-pool waits during the load phase, from the files the in-app hook writes.

perfgate.run.inapp.pool keeps running totals per worker process in `<query dir>/pool-<pid>.json`;
a snapshot before the load phase and one after it give the load phase's own figures.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from perfgate.database import PoolStats
from perfgate.run.inapp.pool import FLUSH_S, PREFIX

Totals = dict[str, dict[str, float]]


@dataclass(frozen=True)
class Snapshot:
    taken_at: float  # wall clock, to compare with the files' times
    totals: Totals  # file name -> figures


def snapshot(query_dir: Path | None, since: float = 0.0) -> Snapshot:
    """The totals of every worker process that wrote them at or after `since`."""
    taken_at = time.time()
    found: Totals = {}
    for path in query_dir.glob(f"{PREFIX}*.json") if query_dir and query_dir.is_dir() else []:
        try:
            if path.stat().st_mtime < since:
                continue  # a process of an earlier run into the same folder, or idle in the load
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            found[path.stem] = {k: float(v) for k, v in data.items() if isinstance(v, int | float)}
    return Snapshot(taken_at, found)


def during_load(query_dir: Path | None, before: Snapshot) -> PoolStats | None:
    """What the load phase added to the totals; None when the app has no pool perfgate saw."""
    if query_dir is None:
        return None
    time.sleep(2 * FLUSH_S)  # the last totals reach their files
    after = snapshot(query_dir, since=before.taken_at - 2 * FLUSH_S).totals
    if not after:
        return None
    earlier = before.totals

    def added(key: str) -> float:
        return sum(v.get(key, 0.0) - earlier.get(pid, {}).get(key, 0.0) for pid, v in after.items())

    return PoolStats(
        checkouts=round(added("checkouts")),
        waits=round(added("waits")),
        wait_ms=round(added("wait_ms"), 3),
        max_wait_ms=round(max(v.get("max_wait_ms", 0.0) for v in after.values()), 3),
        timeouts=round(added("timeouts")),
        capacity=round(max(v.get("capacity", 0.0) for v in after.values())),
        processes=len(after),
    )
