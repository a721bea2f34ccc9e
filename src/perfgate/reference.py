"""The reference workload: a fixed WSGI handler, measured beside the app in stored-baseline mode.

Why: on a shared runner the host's speed changes between runs (NOISE.md: a fast and a slow state
up to 2x apart, minutes at a time), and a baseline stored at another time cannot tell a host that
got slower from code that did. The reference never changes, so its latency moves only with the
host: each profile trial also samples it, and the stored-baseline comparison divides every
endpoint's trial figure by the reference's trial median (README, "Against a stored baseline").
Where perfgate wraps the app (perfgate.instrument: app.target with a WSGI worker class and
app.count_queries on) the wrapper answers it inside the app's own workers, so it shares what is
particular to those processes (their hash seed, memory layout, CPU placement): over 30 fresh
instances of the example that cut the spread of endpoint medians by about a third, where a
separate process did not cut it at all. Otherwise it runs as its own gunicorn app (one sync
worker) beside each app instance.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from perfgate.config import AppConfig

StartResponse = Callable[..., Any]

# How perfgate runs it when the app is not wrapped: one sync worker is enough, it only ever gets
# one request at a time.
REFERENCE_APP = AppConfig(
    target="perfgate.reference:app", workers=1, ready_path="/", count_queries=False
)


def fixed_work() -> bytes:
    """About 0.5 ms of pure-Python work and a small JSON body: a typical handler's kind of work."""
    total = 0
    for i in range(6000):
        total += (i * i) % 7
    return json.dumps({"total": total, "items": list(range(50))}).encode()


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    body = fixed_work()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    start_response("200 OK", headers)
    return [body]
