"""Inside the app's server: count the SQL statements of a request without touching the app's code.

perfgate starts gunicorn with the target `perfgate.run.inapp.instrument:wrapped()` and puts the
user's own target in $PERFGATE_TARGET. `wrapped()` imports that app the way gunicorn would and hooks
SQLAlchemy's `before/after_cursor_execute` events on the Engine class (which covers every engine)
while a counted request runs.

The wrapper also answers reference.IN_APP_PATH with perfgate's fixed reference workload
(perfgate.run.inapp.reference), so that the stored-baseline mode measures the host's speed inside
the very processes that serve the app (docs/how-the-gate-decides.md).

Only requests that carry `X-Perfgate-Request-Id` are recorded: their statements (count, normalized
shape, time) go to `$PERFGATE_QUERY_DIR/<id>.json` when the response is closed. Timed requests
carry no such header, get no extra header or byte in return, and run with no listener attached:
they pay one function call per request. A side channel (a file) rather than a response header
keeps the measured responses byte-for-byte what the app sends.

Recorded requests also take the database's plan of each statement shape (plans.py). In every
worker that imported SQLAlchemy, pool.py times the checkouts that wait for a connection.
"""

from __future__ import annotations

import gc
import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from perfgate.run.inapp import callgrind, plans, pool, reference
from perfgate.run.inapp.calls import CallCounter

TARGET_ENV = "PERFGATE_TARGET"
DIR_ENV = "PERFGATE_QUERY_DIR"
TARGET = "perfgate.run.inapp.instrument:wrapped()"
REQUEST_HEADER = "X-Perfgate-Request-Id"
_ENVIRON_KEY = "HTTP_X_PERFGATE_REQUEST_ID"
# A recorded request that also asks for its Python function calls to be counted.
CALLS_HEADER = "X-Perfgate-Calls"
_CALLS_KEY = "HTTP_X_PERFGATE_CALLS"
# Set only in the one instance perfgate runs under callgrind (perfgate.measure.instructions):
# there, and only there, the wrapper answers CONTROL_PATH/start and CONTROL_PATH/dump?label=...
CALLGRIND_ENV = "PERFGATE_CALLGRIND"
CONTROL_PATH = "/__perfgate/callgrind"
_VALID_ID = re.compile(r"[0-9a-f]{16,64}")  # becomes a file name: nothing else is accepted
MAX_SHAPE_CHARS = 2000

_local = threading.local()
_active = 0  # counted requests in progress; the listeners are attached while it is above zero
_hook_lock = threading.Lock()

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_STRING = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")
_PLACEHOLDER = re.compile(r"%s|%\(\w+\)s|\$\d+|(?<![:\w]):\w+")
_LIST = re.compile(r"\(\s*\?(?:\s*,\s*\?)+\s*\)")
_ROWS = re.compile(r"(\(\?\))(?:\s*,\s*\(\?\))+")


def normalize(statement: str) -> str:
    """The statement's shape: literals and placeholders become ?, IN-lists and VALUES rows fold."""
    shape = " ".join(statement.split())
    shape = _STRING.sub("?", shape)
    shape = _PLACEHOLDER.sub("?", shape)
    shape = _NUMBER.sub("?", shape)
    shape = _LIST.sub("(?)", shape)
    shape = _ROWS.sub(r"\1", shape)
    return shape[:MAX_SHAPE_CHARS]


class _Recorder:
    """The statements of one request, in the thread that serves it."""

    def __init__(self, explain: bool = True) -> None:
        self.shapes: dict[str, list[float]] = {}  # shape -> [count, seconds]
        self.started: list[tuple[str, float]] = []
        self.plans: dict[str, dict[str, Any] | None] = {}  # shape -> its plan (plans.py)
        self.explain = explain

    def before(self, statement: str) -> None:
        shape = normalize(statement)
        self.shapes.setdefault(shape, [0, 0.0])[0] += 1
        self.started.append((shape, time.perf_counter()))

    def after(self) -> str | None:
        if not self.started:
            return None
        shape, began = self.started.pop()
        self.shapes[shape][1] += time.perf_counter() - began
        return shape

    def plan(self, shape: str, conn: Any, cursor: Any, statement: str, parameters: Any) -> None:
        if self.explain and shape not in self.plans:  # once per shape, after its time was taken
            self.plans[shape] = plans.explain(conn.dialect.name, cursor, statement, parameters)

    def as_json(self, counted: bool, calls: CallCounter | None) -> str:
        ordered = sorted(self.shapes.items(), key=lambda item: (-item[1][0], item[0]))
        shapes = [
            {"shape": shape, "count": int(count), "time_ms": round(seconds * 1000, 3)}
            for shape, (count, seconds) in ordered
        ]
        explained = [{"shape": shape, **plan} for shape, plan in self.plans.items() if plan]
        record: dict[str, object] = {"counted": counted, "shapes": shapes, "plans": explained}
        if calls is not None:
            record["calls"] = calls.as_records()
        return json.dumps(record)


def _before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
    recorder: _Recorder | None = getattr(_local, "recorder", None)
    if recorder is not None:
        recorder.before(statement)


def _after(
    conn: Any, cursor: Any, statement: str, parameters: Any, _context: Any, many: bool
) -> None:
    recorder: _Recorder | None = getattr(_local, "recorder", None)
    if recorder is not None:
        shape = recorder.after()
        if shape is not None and not many:
            recorder.plan(shape, conn, cursor, statement, parameters)


def attach() -> bool:
    """Start listening to SQLAlchemy, if the app uses it; True when statements are counted.

    Attached only while a counted request runs: with a listener present SQLAlchemy dispatches
    an event per statement even when nothing is recording (a few microseconds each, measured in
    bench/instrument_overhead.py), and timed requests must not pay that.
    """
    global _active
    if "sqlalchemy" not in sys.modules:
        return False  # importing it ourselves would count nothing and claim zero
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    with _hook_lock:
        _active += 1
        if _active == 1:
            event.listen(Engine, "before_cursor_execute", _before)
            event.listen(Engine, "after_cursor_execute", _after)
    return True


def detach() -> None:
    """Undo one `attach`; the last one removes the listeners."""
    global _active
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    with _hook_lock:
        _active -= 1
        if _active == 0:
            event.remove(Engine, "before_cursor_execute", _before)
            event.remove(Engine, "after_cursor_execute", _after)


class _Closing:
    """The app's response iterable, with a hook once the server closes it (PEP 3333)."""

    def __init__(self, inner: Iterable[bytes], on_close: Callable[[], None]) -> None:
        self._inner = inner
        self._on_close = on_close

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._inner)

    def close(self) -> None:
        try:
            close = getattr(self._inner, "close", None)
            if close is not None:
                close()
        finally:
            self._on_close()


class Counting:
    """WSGI middleware: record the statements of requests that ask for it, pass others through."""

    def __init__(self, app: WSGIApp, directory: Path, under_callgrind: bool = False) -> None:
        self.app = app
        self.directory = directory
        self.under_callgrind = under_callgrind

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == reference.IN_APP_PATH:
            return reference.app(environ, start_response)
        if self.under_callgrind:
            if path.startswith(CONTROL_PATH + "/"):
                return _control(path, environ.get("QUERY_STRING", ""), start_response)
            return _collected(self.app, environ, start_response)
        request_id = environ.get(_ENVIRON_KEY)
        if not isinstance(request_id, str) or not _VALID_ID.fullmatch(request_id):
            return self.app(environ, start_response)
        counted = attach()
        calls = CallCounter() if environ.get(_CALLS_KEY) == "1" else None
        # A request whose calls are counted asks for no plans: their work is not the app's.
        recorder = _Recorder(explain=calls is None)
        _local.recorder = recorder
        if calls is not None:
            calls.start()
        try:
            result = self.app(environ, start_response)
        except BaseException:
            self._stop(counted, calls)
            raise
        return _Closing(result, lambda: self._finish(request_id, recorder, counted, calls))

    @staticmethod
    def _stop(counted: bool, calls: CallCounter | None) -> None:
        if calls is not None:
            calls.stop()
        _local.recorder = None
        if counted:
            detach()

    def _finish(
        self, request_id: str, recorder: _Recorder, counted: bool, calls: CallCounter | None
    ) -> None:
        self._stop(counted, calls)
        final = self.directory / f"{request_id}.json"
        temporary = final.with_suffix(".tmp")
        temporary.write_text(recorder.as_json(counted, calls), encoding="utf-8")
        os.replace(temporary, final)  # the reader never sees half a file


def _collected(
    app: WSGIApp, environ: dict[str, Any], start_response: StartResponse
) -> Iterable[bytes]:
    """Serve a request with callgrind collecting from the app's call to the response's close:
    the server's own loop (it wakes up on a timer between requests, so its share depends on
    time, not on the requests) stays out of the count. A collection first, uncounted: each
    request then starts from the same collector state and runs the same collections of its own
    (otherwise whatever the server's loop allocated decides which request pays for one). The
    first request freezes what start-up left, so those collections stay small."""
    if not gc.get_freeze_count():
        gc.collect()
        gc.freeze()
    gc.collect()
    callgrind.toggle_collect()
    try:
        result = app(environ, start_response)
    except BaseException:
        callgrind.toggle_collect()
        raise
    return _Closing(result, callgrind.toggle_collect)


def _control(path: str, query: str, start_response: StartResponse) -> list[bytes]:
    """Steer callgrind from inside the worker: start counting, or dump a batch's counts."""
    action = path.removeprefix(CONTROL_PATH + "/")
    # A full collection, uncounted, at every boundary: each batch then starts from the same
    # collector state, instead of paying for whichever earlier garbage a collection happens to
    # fall on (that moved batches of the same requests by ~1%).
    if action == "start":
        gc.collect()
        gc.freeze()  # what start-up and warm-up left is not traversed again: collections stay small
        callgrind.start()
    elif action == "dump":
        callgrind.dump(query.removeprefix("label="))
        gc.collect()
        callgrind.zero()
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"unknown callgrind action\n"]
    on = callgrind.running_on_valgrind()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"on valgrind\n" if on else b"not on valgrind\n"]


def wrapped() -> Counting:
    """The gunicorn target perfgate runs: the user's app ($PERFGATE_TARGET), counted."""
    from gunicorn.util import import_app  # type: ignore[import-untyped]

    app: WSGIApp = import_app(os.environ[TARGET_ENV])
    directory = Path(os.environ[DIR_ENV])
    directory.mkdir(parents=True, exist_ok=True)
    if "sqlalchemy" in sys.modules:
        pool.hook(directory)  # connection waits under load (run/inapp/pool.py)
    return Counting(app, directory, os.environ.get(CALLGRIND_ENV) == "1")
