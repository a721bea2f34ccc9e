"""Inside the app's server: how long requests wait for a SQLAlchemy pool connection.

SQLAlchemy's pool events say when a connection was checked out, not when the request began to
want one, so the hook wraps `QueuePool._do_get` (the call that blocks when the pool is
exhausted). Only a checkout that found every connection in use is timed; the others pay a few
attribute reads and a counter (bench/instrument_overhead.py). A `TimeoutError` out of the pool
counts as a timeout.

Each worker process keeps running totals and a daemon thread writes them, when they changed, to
`<query dir>/pool-<pid>.json` a few times a second; perfgate reads the files before and after
the load phase and keeps the difference (perfgate.measure.pool).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

FLUSH_S = 0.2
PREFIX = "pool-"

_totals = {"checkouts": 0, "waits": 0, "wait_ms": 0.0, "max_wait_ms": 0.0, "timeouts": 0,
           "capacity": 0}  # fmt: skip
_lock = threading.Lock()
_hooked = False


def hook(directory: Path) -> bool:
    """Time exhausted-pool checkouts in this process; False when there is no QueuePool."""
    global _hooked
    try:
        from sqlalchemy.exc import TimeoutError as PoolTimeout
        from sqlalchemy.pool import QueuePool
    except ImportError:
        return False
    if _hooked:
        return True
    original = QueuePool._do_get

    def _do_get(pool: Any) -> Any:
        try:  # SQLAlchemy's own test for "wait": every connection made (size + overflow) ...
            limit = pool._max_overflow
            exhausted = limit > -1 and pool._overflow >= limit and not pool._pool.queue
        except Exception:  # another SQLAlchemy's internals: count nothing, never break the app
            return original(pool)
        if not hasattr(pool, "_perfgate_capacity"):  # once per pool
            pool._perfgate_capacity = pool.size() + limit if limit > -1 else 0
            with _lock:
                _totals["capacity"] = max(_totals["capacity"], pool._perfgate_capacity)
        if not exhausted:  # ... and none of them idle in the queue
            with _lock:
                _totals["checkouts"] += 1
            return original(pool)
        began = time.perf_counter()
        try:
            return original(pool)
        except PoolTimeout:
            with _lock:
                _totals["timeouts"] += 1
            raise
        finally:
            waited = (time.perf_counter() - began) * 1000
            with _lock:
                _totals["checkouts"] += 1
                _totals["waits"] += 1
                _totals["wait_ms"] += waited
                _totals["max_wait_ms"] = max(_totals["max_wait_ms"], waited)

    QueuePool._do_get = _do_get  # type: ignore[method-assign,assignment]
    _hooked = True
    threading.Thread(target=_flush_forever, args=(directory,), daemon=True).start()
    return True


def _flush_forever(directory: Path) -> None:
    written: dict[str, float] = {}
    final = directory / f"{PREFIX}{os.getpid()}.json"
    while True:
        with _lock:
            current = dict(_totals)
        if current != written:
            temporary = final.with_suffix(".tmp")
            try:
                temporary.write_text(json.dumps(current), encoding="utf-8")
                os.replace(temporary, final)
                written = current
            except OSError:
                pass  # the folder went away: the run is over
        time.sleep(FLUSH_S)
