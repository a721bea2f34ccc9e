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

import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from perfgate.run.inapp import plans, pool, reference

TARGET_ENV = "PERFGATE_TARGET"
DIR_ENV = "PERFGATE_QUERY_DIR"
TARGET = "perfgate.run.inapp.instrument:wrapped()"
REQUEST_HEADER = "X-Perfgate-Request-Id"
_ENVIRON_KEY = "HTTP_X_PERFGATE_REQUEST_ID"
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

    def __init__(self) -> None:
        self.shapes: dict[str, list[float]] = {}  # shape -> [count, seconds]
        self.started: list[tuple[str, float]] = []
        self.plans: dict[str, dict[str, Any] | None] = {}  # shape -> its plan (plans.py)

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
        if shape not in self.plans:  # once per shape, after its time was taken
            self.plans[shape] = plans.explain(conn.dialect.name, cursor, statement, parameters)

    def as_json(self, counted: bool) -> str:
        ordered = sorted(self.shapes.items(), key=lambda item: (-item[1][0], item[0]))
        shapes = [
            {"shape": shape, "count": int(count), "time_ms": round(seconds * 1000, 3)}
            for shape, (count, seconds) in ordered
        ]
        explained = [{"shape": shape, **plan} for shape, plan in self.plans.items() if plan]
        return json.dumps({"counted": counted, "shapes": shapes, "plans": explained})


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

    def __init__(self, app: WSGIApp, directory: Path) -> None:
        self.app = app
        self.directory = directory

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == reference.IN_APP_PATH:
            return reference.app(environ, start_response)
        request_id = environ.get(_ENVIRON_KEY)
        if not isinstance(request_id, str) or not _VALID_ID.fullmatch(request_id):
            return self.app(environ, start_response)
        counted = attach()
        recorder = _Recorder()
        _local.recorder = recorder
        try:
            result = self.app(environ, start_response)
        except BaseException:
            self._stop(counted)
            raise
        return _Closing(result, lambda: self._finish(request_id, recorder, counted))

    @staticmethod
    def _stop(counted: bool) -> None:
        _local.recorder = None
        if counted:
            detach()

    def _finish(self, request_id: str, recorder: _Recorder, counted: bool) -> None:
        self._stop(counted)
        final = self.directory / f"{request_id}.json"
        temporary = final.with_suffix(".tmp")
        temporary.write_text(recorder.as_json(counted), encoding="utf-8")
        os.replace(temporary, final)  # the reader never sees half a file


def wrapped() -> Counting:
    """The gunicorn target perfgate runs: the user's app ($PERFGATE_TARGET), counted."""
    from gunicorn.util import import_app  # type: ignore[import-untyped]

    app: WSGIApp = import_app(os.environ[TARGET_ENV])
    directory = Path(os.environ[DIR_ENV])
    directory.mkdir(parents=True, exist_ok=True)
    if "sqlalchemy" in sys.modules:
        pool.hook(directory)  # connection waits under load (run/inapp/pool.py)
    return Counting(app, directory)
