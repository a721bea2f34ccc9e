"""A WSGI wrapper around the SoftFactory example that slows one endpoint by a CPU busy-wait.

bench/power.py runs this instead of the bare app, on both sides, so that the only difference
between base and head is the injected work. The app itself is not edited. Environment:
  PERFGATE_INJECT_PATH  the request path, query string included, to slow (exact match)
  PERFGATE_INJECT_MS    milliseconds of busy-wait added to each such request (0 = none)
A busy-wait, not a sleep: a real regression costs CPU, which also competes with everything else
on the machine (the other app, the load generator), as a slower handler would.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from examples.softfactory.app import create_app as create_example

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def slowed(app: WSGIApp, path: str, delay_s: float) -> WSGIApp:
    def wrapper(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        query = environ.get("QUERY_STRING", "")
        full = environ.get("PATH_INFO", "") + (f"?{query}" if query else "")
        if delay_s > 0 and full == path:
            end = time.perf_counter() + delay_s
            while time.perf_counter() < end:
                pass
        return app(environ, start_response)

    return wrapper


def create_app() -> WSGIApp:
    path = os.environ.get("PERFGATE_INJECT_PATH", "")
    delay_s = float(os.environ.get("PERFGATE_INJECT_MS", "0") or 0) / 1000
    return slowed(create_example(), path, delay_s)
