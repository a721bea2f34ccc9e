"""A WSGI wrapper around a bench app: slows one endpoint by a fixed amount of work.

bench/power.py runs this instead of the bare app, on both sides, so that the only difference
between base and head is the injected work. The app itself is not edited. Environment:
  PERFGATE_INJECT_APP    the app factory, "module:function" (default: the SoftFactory example)
  PERFGATE_INJECT_PATH   the request path, query string included, to slow (exact match)
  PERFGATE_INJECT_LOOPS  iterations of `busy_work` added to each such request (0 = none)
It also answers HEAVY_REFERENCE_PATH with `app_like_work`, a fixed workload shaped like an
ORM-backed handler (objects built, a list of dicts serialized), which `power.py
--probe-heavy-reference` samples as one more endpoint, to measure whether a reference of that
shape follows the example's heavier endpoints better than perfgate's own (`replay.py
--tracking`).
Work, not a sleep and not a timed busy-wait: a real regression is more work, which costs CPU
(competing with the other app and the client as a slower handler would) and takes longer
when the host is in a slow state, in proportion to the endpoint's own work. A wait sized in
milliseconds would be +10% in one host state and +5% in the next.
"""

from __future__ import annotations

import importlib
import json
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from perfgate.run.inapp.reference import object_work

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def busy_work(loops: int) -> int:
    total = 0
    for i in range(loops):
        total += i % 7
    return total


SPEED_PATH = "/__perfgate_inject_speed"
SPEED_LOOPS = 100_000
HEAVY_REFERENCE_PATH = "/__perfgate_inject_heavy_reference"


def app_like_work() -> bytes:
    """About half a millisecond of object building and JSON: 250 rows, 28 KB (the object part of
    perfgate's reference, twice over, alone)."""
    return json.dumps(object_work(250)).encode()


def slowed(app: WSGIApp, path: str, loops: int) -> WSGIApp:
    def wrapper(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        query = environ.get("QUERY_STRING", "")
        full = environ.get("PATH_INFO", "") + (f"?{query}" if query else "")
        if full == SPEED_PATH:
            # How long SPEED_LOOPS iterations take inside a worker of this app, as a request
            # sees it: the bench sizes the injected work from this, not from its own process
            # (a best-of run in the bench measured 1.3x faster than a worker's typical pace).
            start = time.perf_counter()
            busy_work(SPEED_LOOPS)
            body = f"{(time.perf_counter() - start) * 1000:.4f}".encode()
            start_response("200 OK", [("Content-Length", str(len(body)))])
            return [body]
        if full == HEAVY_REFERENCE_PATH:
            body = app_like_work()
            start_response("200 OK", [("Content-Length", str(len(body)))])
            return [body]
        if loops > 0 and full == path:
            busy_work(loops)
        return app(environ, start_response)

    return wrapper


EXAMPLE_FACTORY = "examples.softfactory.app:create_app"


def create_app() -> WSGIApp:
    module, _, function = os.environ.get("PERFGATE_INJECT_APP", EXAMPLE_FACTORY).partition(":")
    factory: Callable[[], WSGIApp] = getattr(importlib.import_module(module), function)
    path = os.environ.get("PERFGATE_INJECT_PATH", "")
    loops = int(os.environ.get("PERFGATE_INJECT_LOOPS", "0") or 0)
    return slowed(factory(), path, loops)
