"""Connection-pool waits during the load phase, from the files the in-app hook writes.

perfgate.run.inapp.pool keeps running totals per worker process in `<query dir>/pool-<pid>.json`;
a snapshot before the load phase and one after it give the load phase's own figures.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from perfgate.database import PoolStats
from perfgate.run.inapp.pool import FLUSH_S, PREFIX

Totals = dict[str, dict[str, float]]


def snapshot(query_dir: Path | None) -> Totals:
    """The totals of every worker process that has written them (pid -> figures)."""
    if query_dir is None or not query_dir.is_dir():
        return {}
    found: Totals = {}
    for path in query_dir.glob(f"{PREFIX}*.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            found[path.stem] = {k: float(v) for k, v in data.items() if isinstance(v, int | float)}
    return found


def during_load(query_dir: Path | None, before: Totals) -> PoolStats | None:
    """What the load phase added to the totals; None when the app has no pool perfgate saw."""
    if query_dir is None:
        return None
    time.sleep(2 * FLUSH_S)  # the last totals reach their files
    after = snapshot(query_dir)
    if not after:
        return None

    def added(key: str) -> float:
        return sum(v.get(key, 0.0) - before.get(pid, {}).get(key, 0.0) for pid, v in after.items())

    return PoolStats(
        checkouts=round(added("checkouts")),
        waits=round(added("waits")),
        wait_ms=round(added("wait_ms"), 3),
        max_wait_ms=round(max(v.get("max_wait_ms", 0.0) for v in after.values()), 3),
        timeouts=round(added("timeouts")),
        capacity=round(max(v.get("capacity", 0.0) for v in after.values())),
        processes=len(after),
    )
