"""A WSGI app that misbehaves on request, for perfgate's fault, signal and bad-input tests.

Paths: /health, /items (counted), /hang (sleeps FAULTY_HANG_S), /big (FAULTY_BIG_MB MiB),
/binary (bytes that are not UTF-8), /loop (a redirect to itself), /status/NNN.
Environment knobs:
  FAULTY_KILL=worker|master with FAULTY_KILL_AFTER=N: after N requests to /items in one worker,
    SIGKILL that worker or its gunicorn master, once (FAULTY_ONCE names a marker file);
  FAULTY_IMPORT_SLEEP_S: sleep at import (a slow start);
  FAULTY_ECHO_ENV: print these variables (comma-separated) to stderr at import (a leaky app).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

StartResponse = Callable[..., Any]

time.sleep(float(os.environ.get("FAULTY_IMPORT_SLEEP_S", "0")))
for _name in filter(None, os.environ.get("FAULTY_ECHO_ENV", "").split(",")):
    print(f"config {_name}={os.environ.get(_name, '')}", file=sys.stderr, flush=True)

_MIB = 1024 * 1024


def create_app() -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    kill = os.environ.get("FAULTY_KILL", "")
    kill_after = int(os.environ.get("FAULTY_KILL_AFTER", "0"))
    once = os.environ.get("FAULTY_ONCE", "")
    hang_s = float(os.environ.get("FAULTY_HANG_S", "5"))
    big = int(float(os.environ.get("FAULTY_BIG_MB", "8")) * _MIB)
    counted = 0

    def maybe_kill() -> None:
        nonlocal counted
        counted += 1
        if not kill or counted < kill_after or (once and os.path.exists(once)):
            return
        if once:
            open(once, "w").close()
        os.kill(os.getpid() if kill == "worker" else os.getppid(), signal.SIGKILL)

    def big_body() -> Iterator[bytes]:
        block = b"x" * _MIB
        for start in range(0, big, _MIB):
            yield block[: min(_MIB, big - start)]

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        headers = [("Content-Type", "application/octet-stream")]
        if path == "/items":
            maybe_kill()
            body, status = b'[{"id": 1}, {"id": 2}]', "200 OK"
        elif path == "/hang":
            time.sleep(hang_s)
            body, status = b"late", "200 OK"
        elif path == "/big":
            start_response("200 OK", [*headers, ("Content-Length", str(big))])
            return big_body()
        elif path == "/binary":
            body, status = bytes(range(128, 256)) * 4, "200 OK"
        elif path == "/loop":
            body, status = b"", "302 Found"
            headers.append(("Location", "/loop"))
        elif path.startswith("/status/"):
            code = int(path.rsplit("/", 1)[1])
            body, status = b"status", f"{code} Status"
        elif path == "/health":
            body, status = b"ok", "200 OK"
        else:
            body, status = b"not found", "404 Not Found"
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [body]

    return app
