"""A lean HTTP/1.1 client on asyncio transports, shared by the profiler and the load engine.

Why not requests (or asyncio streams): on a 2-core runner the client shares the CPU with the app
it measures, so every microsecond of client work per request is taken from the server. Here a
request is pre-built bytes written to the transport, and the response is parsed as it arrives in
`data_received` (status line and the three headers that matter found with bytes searches), with
one future per request. Timeouts come from a shared `Watchdog` sweep rather than a task plus a
timer per request (`asyncio.wait_for`).

Keep-alive is used where the server allows it; where it answers `Connection: close` (gunicorn's
sync workers always do) the next request opens a new connection. A reused connection that the
server closed while idle is retried once on a fresh one, since that is not the server failing
the request. Client-side failures are kept apart from server answers by `ErrorKind`.
"""

from __future__ import annotations

import asyncio
import errno
import signal
import socket
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from perfgate.config import Endpoint
from perfgate.errors import Terminated

T = TypeVar("T")

MAX_HEADER_BYTES = 64 * 1024


class ErrorKind(StrEnum):
    TIMEOUT = "timeout"
    CONNECT = "connect_refused"
    RESET = "connection_reset"
    PROTOCOL = "protocol_error"
    STATUS = "unexpected_status"
    PORTS = "ephemeral_ports_exhausted"
    FILES = "client_file_limit"
    DROPPED = "dropped"


class ClientError(Exception):
    """A request that got no (complete, valid) answer; `kind` says why."""

    def __init__(self, kind: ErrorKind, detail: str = "", stale: bool = False) -> None:
        super().__init__(f"{kind.value}: {detail}" if detail else kind.value)
        self.kind = kind
        self.stale = stale  # the server closed before sending a single byte of the answer


@dataclass(frozen=True)
class Outcome:
    """One request: latency in seconds, and either a status or a client-side error."""

    latency_s: float
    status: int | None
    nbytes: int
    error: ErrorKind | None


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    address: str = ""  # the resolved IP, so connecting does not resolve the name each time

    @classmethod
    def from_url(cls, base_url: str) -> Target:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"only http:// URLs are supported, got {base_url!r}")
        try:
            port = parts.port or 80
        except ValueError:
            raise ValueError(f"bad port in {base_url!r}") from None
        return cls(parts.hostname, port)

    def resolved(self) -> Target:
        """This target with its address looked up once (raises OSError if it cannot be)."""
        if self.address:
            return self
        info = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        return Target(self.host, self.port, str(info[0][4][0]))


def build_request(target: Target, endpoint: Endpoint) -> bytes:
    body = (endpoint.body or "").encode()
    host = target.host if ":" not in target.host else f"[{target.host}]"
    headers = {
        "Host": f"{host}:{target.port}",
        "User-Agent": "perfgate",
        "Accept": "*/*",
        **endpoint.headers,
    }
    if body or endpoint.method in ("POST", "PUT", "PATCH"):
        headers["Content-Length"] = str(len(body))
    head = f"{endpoint.method} {endpoint.path} HTTP/1.1\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return head.encode("latin-1") + b"\r\n" + body


class ProtocolError(Exception):
    pass


# Parser states.
_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _TRAILER, _UNTIL_EOF = range(6)


class _HttpProtocol(asyncio.Protocol):
    """Parses one response at a time and resolves `waiter` with the status code."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[int] | None = None
        self.closed = False
        self.buffer = b""
        self.state = _HEAD
        self.remaining = 0
        self.head_only = False
        self.status = 0
        self.nbytes = 0
        self.keep_alive = True
        self.got_bytes = False

    def start(self, waiter: asyncio.Future[int], head_only: bool) -> None:
        self.waiter = waiter
        self.head_only = head_only
        self.state = _HEAD
        self.got_bytes = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, but they behave as one.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is None:
            return
        if self.state == _UNTIL_EOF:
            self._complete()
        else:
            detail = "closed before the answer was complete"
            self.fail(ClientError(ErrorKind.RESET, detail, stale=not self.got_bytes))

    def eof_received(self) -> bool:
        self.closed = True
        if self.waiter is not None and self.state == _UNTIL_EOF:
            self._complete()
        return False  # let the transport close itself

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:
            # Bytes nobody asked for: the connection cannot be trusted for the next request.
            self.closed = True
            if self.transport is not None:
                self.transport.abort()
            return
        self.got_bytes = True
        if self.buffer:
            data = self.buffer + data
            self.buffer = b""
        try:
            self._feed(data)
        except (ProtocolError, ValueError) as exc:
            self.fail(ClientError(ErrorKind.PROTOCOL, str(exc)[:120]))
            self.abort()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def fail(self, error: ClientError) -> None:
        waiter, self.waiter = self.waiter, None
        self.buffer = b""
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def _complete(self) -> None:
        waiter, self.waiter = self.waiter, None
        self.state = _HEAD
        if not self.keep_alive:
            self.closed = True
            if self.transport is not None:
                self.transport.close()
        if waiter is not None and not waiter.done():
            waiter.set_result(self.status)

    def _feed(self, data: bytes) -> None:
        pos, size = 0, len(data)
        while True:
            state = self.state
            if state == _HEAD:
                end = data.find(b"\r\n\r\n", pos)
                if end < 0:
                    self._keep(data, pos)
                    return
                done = self._parse_head(data[pos : end + 2])
                pos = end + 4
                if done:
                    self._complete()
                    return
            elif state == _LENGTH:
                available = size - pos
                if available >= self.remaining:
                    self._complete()
                    return
                self.remaining -= available
                return
            elif state == _CHUNK_SIZE:
                end = data.find(b"\r\n", pos)
                if end < 0:
                    self._keep(data, pos)
                    return
                chunk = int(data[pos:end].split(b";", 1)[0], 16)
                if chunk < 0:
                    raise ProtocolError("negative chunk size")
                pos = end + 2
                self.nbytes += chunk
                if chunk == 0:
                    self.state = _TRAILER
                else:
                    self.remaining = chunk + 2  # the chunk and its CRLF
                    self.state = _CHUNK_DATA
            elif state == _CHUNK_DATA:
                available = size - pos
                if available < self.remaining:
                    self.remaining -= available
                    return
                pos += self.remaining
                self.state = _CHUNK_SIZE
            elif state == _TRAILER:
                end = data.find(b"\r\n", pos)
                if end < 0:
                    self._keep(data, pos)
                    return
                if end == pos:
                    self._complete()
                    return
                pos = end + 2
            else:  # _UNTIL_EOF
                self.nbytes += size - pos
                return

    def _keep(self, data: bytes, pos: int) -> None:
        rest = data[pos:]
        if len(rest) > MAX_HEADER_BYTES:
            raise ProtocolError("header or chunk line longer than 64 KiB")
        self.buffer = rest

    def _parse_head(self, head: bytes) -> bool:
        """Read the status line and framing headers; True when the answer has no body."""
        if head[:7] != b"HTTP/1." or head[8:9] != b" " or not head[9:12].isdigit():
            raise ProtocolError(f"bad status line {head[:40]!r}")
        status = int(head[9:12])
        if 100 <= status < 200 and status != 101:
            return False  # an interim answer: the real one follows
        lower = head.lower()
        keep_alive = head[7:8] == b"1"
        value = _header(lower, b"\r\nconnection:")
        if value is not None:
            keep_alive = b"close" not in value and (keep_alive or b"keep-alive" in value)
        chunked = b"chunked" in (_header(lower, b"\r\ntransfer-encoding:") or b"")
        length = _header(lower, b"\r\ncontent-length:")
        self.status = status
        self.keep_alive = keep_alive
        self.nbytes = 0
        if self.head_only or status in (204, 304):
            return True
        if chunked:
            self.state = _CHUNK_SIZE
        elif length is not None:
            length = length.strip()
            if not length.isdigit():
                raise ProtocolError(f"bad Content-Length {length[:20]!r}")
            self.nbytes = self.remaining = int(length)
            if not self.remaining:
                return True
            self.state = _LENGTH
        else:
            self.state = _UNTIL_EOF
            self.keep_alive = False
        return False


def _header(lower_head: bytes, name: bytes) -> bytes | None:
    start = lower_head.find(name)
    if start < 0:
        return None
    start += len(name)
    return lower_head[start : lower_head.find(b"\r\n", start)]


class Watchdog:
    """Times out requests of many connections with one periodic sweep (cheap per request)."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.connections: list[Connection] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._sweep())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.interval_s)
            now = loop.time()
            for connection in self.connections:
                if connection.deadline < now:
                    connection.expire()


class Connection:
    """One keep-alive connection that reopens itself when the server closed it."""

    def __init__(self, target: Target, watchdog: Watchdog | None = None) -> None:
        self.target = target
        self.deadline = float("inf")
        self.nbytes = 0
        self._protocol: _HttpProtocol | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connecting: asyncio.Task[object] | None = None
        self._timed_out = False
        self._watchdog = watchdog
        if watchdog is not None:
            watchdog.connections.append(self)

    async def request(self, raw: bytes, timeout: float, head_only: bool = False) -> Outcome:
        """Send one request and wait for its answer; never raises for client-side failures."""
        start = time.perf_counter()
        try:
            status = await self.exchange(raw, timeout, head_only)
        except ClientError as exc:
            return Outcome(time.perf_counter() - start, None, 0, exc.kind)
        return Outcome(time.perf_counter() - start, status, self.nbytes, None)

    async def exchange(self, raw: bytes, timeout: float, head_only: bool = False) -> int:
        """Send one request; return the status or raise ClientError. Body size in `nbytes`.

        The hot path of the load engine: one future per request and no extra coroutine."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        self._timed_out = False
        self.deadline = loop.time() + timeout
        timer = None if self._watchdog else loop.call_at(self.deadline, self.expire)
        try:
            protocol = self._protocol
            retry = True
            while True:
                fresh = protocol is None or protocol.closed
                if fresh:
                    protocol = await self._connect(loop, timeout)
                assert protocol is not None and protocol.transport is not None
                waiter: asyncio.Future[int] = loop.create_future()
                protocol.start(waiter, head_only)
                protocol.transport.write(raw)
                try:
                    status = await waiter
                except ClientError as exc:
                    self._drop()
                    if exc.stale and not fresh and retry:
                        # The server closed an idle keep-alive connection as we reused it.
                        protocol, retry = None, False
                        continue
                    raise
                self.nbytes = protocol.nbytes
                return status
        finally:
            self.deadline = float("inf")
            if timer is not None:
                timer.cancel()

    async def _connect(self, loop: asyncio.AbstractEventLoop, timeout: float) -> _HttpProtocol:
        self._drop()
        # A connect is timed out by cancelling this task (rare: loopback connects are instant).
        self._connecting = asyncio.current_task()
        try:
            _, protocol = await loop.create_connection(
                _HttpProtocol, self.target.address or self.target.host, self.target.port
            )
        except ConnectionRefusedError as exc:
            raise ClientError(ErrorKind.CONNECT, str(exc)) from None
        except OSError as exc:
            raise ClientError(connect_error_kind(exc), str(exc)) from None
        except asyncio.CancelledError:
            if not self._timed_out:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            raise ClientError(ErrorKind.TIMEOUT, f"no connection within {timeout:g} s") from None
        finally:
            self._connecting = None
        self._protocol = protocol
        return protocol

    def expire(self) -> None:
        """Called by the watchdog or timer once the deadline passed: fail the request."""
        if self._timed_out:
            return
        self._timed_out = True
        if self._connecting is not None:
            self._connecting.cancel()
            return
        protocol = self._protocol
        if protocol is not None and protocol.waiter is not None:
            protocol.fail(ClientError(ErrorKind.TIMEOUT, "no answer in time"))
            protocol.abort()

    def _drop(self) -> None:
        protocol, self._protocol = self._protocol, None
        if protocol is not None:
            protocol.waiter = None
            protocol.abort()

    async def close(self) -> None:
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()
        if self._watchdog is not None and self in self._watchdog.connections:
            self._watchdog.connections.remove(self)


def connect_error_kind(exc: OSError) -> ErrorKind:
    """Tell client-side limits (ports, file descriptors) apart from a server that refuses."""
    if exc.errno == errno.EADDRNOTAVAIL:
        return ErrorKind.PORTS
    if exc.errno in (errno.EMFILE, errno.ENFILE):
        return ErrorKind.FILES
    return ErrorKind.CONNECT


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where installed: it halves the client's CPU per request."""
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:
        return asyncio.new_event_loop()


def run_interruptible(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on a fresh loop. SIGINT or SIGTERM cancels it cleanly (every connection is
    closed by the coroutines' own `finally`), then surfaces as KeyboardInterrupt or Terminated.

    Why not let the Python signal handler raise: raised in the middle of the loop's machinery,
    it leaves tasks and transports half-done, and their finalizers print tracebacks.
    """
    loop = new_event_loop()
    task = loop.create_task(coro)
    received: list[signal.Signals] = []

    def on_signal(sig: signal.Signals) -> None:
        received.append(sig)
        task.cancel()

    saved = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            saved[sig] = signal.getsignal(sig)
            loop.add_signal_handler(sig, on_signal, sig)
    try:
        return loop.run_until_complete(task)
    except asyncio.CancelledError:
        if not received:
            raise
        raise (Terminated() if received[0] == signal.SIGTERM else KeyboardInterrupt()) from None
    finally:
        for sig, handler in saved.items():
            loop.remove_signal_handler(sig)
            # remove_signal_handler resets to the default: give back the caller's handler.
            signal.signal(sig, handler)
        _finish(loop)


def _finish(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is still running and let it close its connections, then close the loop."""
    try:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()
