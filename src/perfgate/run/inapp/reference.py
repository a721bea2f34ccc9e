"""The reference workload: a fixed WSGI handler, measured beside the app in stored-baseline mode.

Why: on a shared runner the host's speed changes between runs (docs/evidence/noise.md: a fast and a
slow state up to 2x apart, minutes at a time), and a baseline stored at another time cannot tell a
host that got slower from code that did. The reference never changes, so its latency moves only with
the host: each profile trial also samples it, and the stored-baseline comparison divides every
endpoint's trial figure by the reference's trial median (docs/how-the-gate-decides.md). Where
perfgate wraps the app (perfgate.run.inapp.instrument: app.target with a WSGI worker class and
app.count_queries on) the wrapper answers it inside the app's own workers, so it shares what is
particular to those processes (their hash seed, memory layout, CPU placement): over 30 fresh
instances of the example that cut the spread of endpoint medians by about a third, where a separate
process did not cut it at all. Otherwise it runs as its own gunicorn app (one sync worker) beside
each app instance.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

StartResponse = Callable[..., Any]

# The work's version is part of every path the reference is sampled at. A stored run records
# that path and gate.host_speed divides only by a reference sampled at the same one, so a
# baseline run that measured an earlier version of this work is compared undivided, with a note,
# instead of being divided by another workload's latency. Version 1 (no version in the path)
# was the arithmetic part alone.
VERSION = "v2"
IN_APP_PATH = f"/__perfgate/reference/{VERSION}"
OWN_APP_PATH = f"/reference/{VERSION}"


class _Row:
    __slots__ = ("id", "name", "price", "tags", "stock")

    def __init__(self, i: int) -> None:
        self.id = i
        self.name = f"dish-{i}"
        self.price = i * 1.25
        self.tags = ["spicy", "veg", str(i % 7)]
        self.stock = {"store": i % 3, "qty": i * 2}


def arithmetic_work(loops: int = 6000) -> int:
    total = 0
    for i in range(loops):
        total += (i * i) % 7
    return total


def object_work(rows: int = 125) -> list[dict[str, Any]]:
    """What an ORM-backed view does: build rows as objects, then turn them into dicts."""
    built = [_Row(i) for i in range(rows)]
    return [{field: getattr(row, field) for field in _Row.__slots__} for row in built]


def fixed_work() -> bytes:
    """About 0.6 ms of a typical handler's work, in two parts of about equal time.

    Why two parts: in 30 stored A/A checks of the example (docs/evidence/defaults.md), the
    arithmetic part alone followed the light endpoints best and an object-and-JSON part followed
    the heavy ones best; dividing by the mean of both left less run-to-run spread than either, on
    every endpoint but one (where it tied)."""
    body = {"total": arithmetic_work(), "rows": object_work()}
    return json.dumps(body).encode()


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    body = fixed_work()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    start_response("200 OK", headers)
    return [body]
