"""A dependency-free WSGI app for perfgate's own tests: known answers, no database.

Environment knobs (read at start): TINY_SLOW_PATH and TINY_SLOW_MS make one path busy-wait,
TINY_SLOW_BY_SEED multiplies that wait by 1 or 2 as the process's PYTHONHASHSEED is odd or even
(instances 1 and 2 of a stored run, seeds 1 and 2, answer at their own, known speeds),
TINY_SLOW_STARTS limits that wait to the first N processes that load the app (counted in the file
TINY_STARTS_FILE: a slow spell that has passed by the next run), TINY_FAIL_IMPORT makes the module
fail to import, TINY_PRINT_ENV=NAME prints that variable at start-up (as apps that log their
settings do, secrets included).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import Any

if os.environ.get("TINY_FAIL_IMPORT"):
    raise RuntimeError("tiny app told to fail at import (TINY_FAIL_IMPORT)")
if os.environ.get("TINY_PRINT_ENV"):
    _shown = os.environ["TINY_PRINT_ENV"]
    print(f"tiny starting with {_shown}={os.environ.get(_shown, '')}", flush=True)

StartResponse = Callable[..., Any]


def create_app() -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    slow_path = os.environ.get("TINY_SLOW_PATH", "")
    slow_s = float(os.environ.get("TINY_SLOW_MS", "0")) / 1000
    if os.environ.get("TINY_SLOW_BY_SEED"):
        slow_s *= 1 + (int(os.environ.get("PYTHONHASHSEED", "0") or 0) + 1) % 2
    starts_file = os.environ.get("TINY_STARTS_FILE")
    if starts_file:
        with open(starts_file, "ab") as starts:
            starts.write(b"x")
        if os.path.getsize(starts_file) > int(os.environ.get("TINY_SLOW_STARTS", "0")):
            slow_s = 0.0

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == slow_path and slow_s:
            end = time.perf_counter() + slow_s
            while time.perf_counter() < end:
                pass
        if path == "/health":
            body, status = b'{"status": "ok"}', "200 OK"
        elif path == "/items":
            body, status = b"[" + b",".join(b'{"id": %d}' % i for i in range(100)) + b"]", "200 OK"
        elif path == "/teapot":
            body, status = b"no", "418 I'm a teapot"
        else:
            body, status = b"not found", "404 Not Found"
        start_response(
            status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]

    return app
