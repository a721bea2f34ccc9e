"""A lean HTTP/1.1 client on the event loop's socket callbacks, shared by every measurement.

Why not requests, asyncio streams, or even asyncio transports: on a 2-core runner the client
shares the CPU with the app it measures, and the app's throughput falls faster than the client's
CPU share rises (measured against gunicorn sync workers on /health: +40 us of client work per
request cost the server 19% of its throughput). Transports and coroutines cost ~40 us per
connect-and-request over a bare socket. So a connection here is a non-blocking socket with the
loop's reader/writer callbacks (uvloop where installed): the request is pre-built bytes, sent
straight after connect() (loopback connects complete at once; otherwise when writable), and the
answer is parsed as it arrives (status line and the three framing headers found with bytes
searches). The load engine drives connections through callbacks (`Connection.send`); sequential
callers await `Connection.request`. Timeouts come from a shared `Watchdog` sweep or, for a lone
connection, one timer per request.

Keep-alive is used where the server allows it; where it answers `Connection: close` (gunicorn's
sync workers always do) the next request opens a new connection. A reused connection that the
server closed while idle is retried once on a fresh one, since that is not the server failing
the request. Client-side failures are kept apart from server answers by `ErrorKind`.
"""

from __future__ import annotations

import _socket
import asyncio
import errno
import math
import os
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import urlsplit

from perfgate.config import Endpoint
from perfgate.errors import Terminated
from perfgate.loadgen.pollloop import PollLoop, Timer

T = TypeVar("T")

MAX_HEADER_BYTES = 64 * 1024
# Below glibc's mmap threshold (128 KiB): a larger read buffer is mapped and unmapped per read,
# which cost ~30 us per request (measured).
RECV_BYTES = 65536
_LINGER_OFF = struct.pack("ii", 1, 0)
# Created non-blocking in the socket() call itself where the platform allows (one syscall less).
_NONBLOCK = getattr(socket, "SOCK_NONBLOCK", 0)
# A request up to this size goes out as one TCP segment (the usual Ethernet MSS is 1448).
ONE_SEGMENT = 1400
# The C socket type under socket.socket: the Python subclass adds an __init__ and a close() in
# Python (file-object bookkeeping this client never uses), about a microsecond per connection.
# Against a server that waits for the client to close (gunicorn's sync workers do), each
# microsecond the client spends per request holds a worker longer: measured here, 6 us less
# client time per request gave the server 2.3% more throughput (README, "Measured against wrk").
RawSocket = _socket.socket
_NEVER = math.inf


class ErrorKind(StrEnum):
    TIMEOUT = "timeout"
    CONNECT = "connect_refused"
    RESET = "connection_reset"
    PROTOCOL = "protocol_error"
    STATUS = "unexpected_status"
    PORTS = "ephemeral_ports_exhausted"
    FILES = "client_file_limit"
    DROPPED = "dropped"


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


class ResponseParser:
    """Finds where one HTTP/1.1 answer ends; keeps its status, body size and keep-alive."""

    __slots__ = ("buffer", "state", "remaining", "head_only", "status", "nbytes", "keep_alive")

    def __init__(self) -> None:
        self.buffer = b""
        self.state = _HEAD
        self.remaining = 0
        self.head_only = False
        self.status = 0
        self.nbytes = 0
        self.keep_alive = True

    def start(self, head_only: bool) -> None:
        self.head_only = head_only
        self.state = _HEAD
        self.buffer = b""

    @property
    def until_eof(self) -> bool:
        return self.state == _UNTIL_EOF

    def feed(self, data: bytes) -> bool:
        """Take the next bytes; True once the answer is complete (raises ProtocolError)."""
        if self.buffer:
            data = self.buffer + data
            self.buffer = b""
        pos, size = 0, len(data)
        while True:
            state = self.state
            if state == _HEAD:
                end = data.find(b"\r\n\r\n", pos)
                if end < 0:
                    self._keep(data, pos)
                    return False
                done = self._parse_head(data[pos : end + 2])
                pos = end + 4
                if done:
                    return True
            elif state == _LENGTH:
                available = size - pos
                if available >= self.remaining:
                    return True
                self.remaining -= available
                return False
            elif state == _CHUNK_SIZE:
                end = data.find(b"\r\n", pos)
                if end < 0:
                    self._keep(data, pos)
                    return False
                try:
                    chunk = int(data[pos:end].split(b";", 1)[0], 16)
                except ValueError:
                    raise ProtocolError(f"bad chunk size {data[pos:end][:20]!r}") from None
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
                    return False
                pos += self.remaining
                self.state = _CHUNK_SIZE
            elif state == _TRAILER:
                end = data.find(b"\r\n", pos)
                if end < 0:
                    self._keep(data, pos)
                    return False
                if end == pos:
                    return True
                pos = end + 2
            else:  # _UNTIL_EOF
                self.nbytes += size - pos
                return False

    def _keep(self, data: bytes, pos: int) -> None:
        rest = data[pos:]
        if len(rest) > MAX_HEADER_BYTES:
            raise ProtocolError("header or chunk line longer than 64 KiB")
        self.buffer = rest

    def _parse_head(self, head: bytes) -> bool:
        """Read the status line and framing headers; True when the answer has no body."""
        code = head[9:12]
        if not head.startswith(b"HTTP/1.") or head[8:9] != b" " or not code.isdigit():
            raise ProtocolError(f"bad status line {head[:40]!r}")
        status = int(code)
        if 100 <= status < 200 and status != 101:
            return False  # an interim answer: the real one follows
        lower = head.lower()
        keep_alive = head[7] == 49  # HTTP/1.1 keeps alive unless told otherwise; 1.0 does not
        value = _header(lower, b"\r\nconnection:")
        if value is not None:
            keep_alive = b"close" not in value and (keep_alive or b"keep-alive" in value)
        self.status = status
        self.keep_alive = keep_alive
        self.nbytes = 0
        if self.head_only or status in (204, 304):
            return True
        if b"chunked" in (_header(lower, b"\r\ntransfer-encoding:") or b""):
            self.state = _CHUNK_SIZE
            return False
        length = _header(lower, b"\r\ncontent-length:")
        if length is not None:
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
        self._loop: Loop | None = None
        self._timer: asyncio.TimerHandle | Timer | None = None

    def start(self, loop: Loop | None = None) -> None:
        self._loop = loop or asyncio.get_running_loop()
        self._timer = self._loop.call_later(self.interval_s, self._sweep)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _sweep(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        for connection in self.connections:
            if connection.deadline < now:
                connection.expire()
        self._timer = self._loop.call_later(self.interval_s, self._sweep)


# Told when a request ends: (status, None) for an answer, (0, kind) for a client-side failure.
OnDone = Callable[[int, "ErrorKind | None"], None]
# Connections run on asyncio's loop (sequential callers) or on PollLoop (the load engine).
Loop = asyncio.AbstractEventLoop | PollLoop


class Connection:
    """One HTTP/1.1 connection that reopens itself when the server closed it.

    `send` starts a request and calls back when it ends; one request at a time."""

    def __init__(
        self, target: Target, watchdog: Watchdog | None = None, loop: Loop | None = None
    ) -> None:
        self.target = target
        self.deadline = _NEVER
        self.nbytes = 0
        self._family = socket.AF_INET6 if ":" in (target.address or target.host) else socket.AF_INET
        self._address = (target.address or target.host, target.port)
        self._loop = loop  # asyncio's running loop when not given
        self._sock: RawSocket | None = None
        self._fd = -1
        self._parser = ResponseParser()
        self._pending: bytes = b""  # what is left to write of the request
        self._raw = b""
        self._head_only = False
        self._on_done: OnDone | None = None
        self._fresh = False  # the request went out on a connection opened for it
        self._got_bytes = False
        self._retry = True
        self._sending = False
        self._timer: asyncio.TimerHandle | Timer | None = None
        self._watchdog = watchdog
        if watchdog is not None:
            watchdog.connections.append(self)

    # -- the callback API (the load engine) ------------------------------------------------

    def send(self, raw: bytes, head_only: bool, timeout: float, on_done: OnDone) -> None:
        """Start one request; `on_done` is called exactly once, from the event loop, unless the
        connection is closed first. Body size of an answer in `nbytes`."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        self._raw, self._head_only, self._on_done = raw, head_only, on_done
        self.deadline = loop.time() + timeout
        if self._watchdog is None:
            self._timer = loop.call_at(self.deadline, self.expire)
        # A failure found inside send() (a refused connect, say) is reported on the next loop
        # turn, so a caller that sends again from its callback cannot recurse without end.
        self._sending = True
        try:
            self._start(retry=True)
        finally:
            self._sending = False

    def _start(self, retry: bool) -> None:
        self._retry = retry
        self._got_bytes = False
        self._parser.start(self._head_only)
        self._fresh = self._sock is None
        if self._fresh and not self._open():
            return
        self._write(self._raw)

    def _open(self) -> bool:
        try:
            sock = RawSocket(self._family, socket.SOCK_STREAM | _NONBLOCK)
        except OSError as exc:
            self._finish(0, connect_error_kind(exc))
            return False
        if not _NONBLOCK:
            sock.setblocking(False)
        if len(self._raw) > ONE_SEGMENT:
            # Nagle's algorithm holds back the tail of a write while earlier bytes are unacked;
            # a request that fits one segment is never held (the previous answer acked the
            # previous request), so the syscall is spent only where it matters.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        code = sock.connect_ex(self._address)
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            self._finish(0, connect_error_kind(OSError(code, os.strerror(code))))
            return False
        self._sock, self._fd = sock, sock.fileno()
        assert self._loop is not None
        self._loop.add_reader(self._fd, self._on_readable)
        return True

    def _write(self, data: bytes) -> None:
        sock = self._sock
        assert sock is not None
        try:
            sent = sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0  # still connecting (or the buffer is full): finish when writable
        except OSError as exc:
            self._fail_io(exc)
            return
        if sent == len(data):
            return
        self._pending = data[sent:]
        assert self._loop is not None
        self._loop.add_writer(self._fd, self._on_writable)

    def _on_writable(self) -> None:
        assert self._loop is not None and self._sock is not None
        self._loop.remove_writer(self._fd)
        pending, self._pending = self._pending, b""
        error = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            self._fail_io(OSError(error, os.strerror(error)))
            return
        self._write(pending)

    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            data = sock.recv(RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fail_io(exc)
            return
        if self._on_done is None:
            # EOF while idle: the server closed a kept-alive connection. Bytes nobody asked
            # for: the connection cannot be trusted for the next request. Either way, drop it.
            self._drop()
            return
        parser = self._parser
        if not data:
            if parser.until_eof:
                self._drop()
                self._answered()
            else:
                self._fail_reset()  # closed before the answer was complete
            return
        self._got_bytes = True
        try:
            complete = parser.feed(data)
        except ProtocolError:
            self._drop()
            self._finish(0, ErrorKind.PROTOCOL)
            return
        if complete:
            if not parser.keep_alive:
                self._drop(reset=True)
            self._answered()

    def _answered(self) -> None:
        self.nbytes = self._parser.nbytes
        self._finish(self._parser.status, None)

    def _fail_io(self, exc: OSError) -> None:
        if self._fresh and not self._got_bytes and exc.errno not in (errno.ECONNRESET, errno.EPIPE):
            self._drop()
            self._finish(0, connect_error_kind(exc))  # the connect itself failed
            return
        self._fail_reset()

    def _fail_reset(self) -> None:
        self._drop()
        if not self._got_bytes and not self._fresh and self._retry:
            # The server closed an idle keep-alive connection as we reused it: not its failure.
            self._start(retry=False)
            return
        self._finish(0, ErrorKind.RESET)

    def _finish(self, status: int, kind: ErrorKind | None) -> None:
        on_done, self._on_done = self._on_done, None
        self._stop_timer()
        if on_done is None:
            return
        if self._sending:
            assert self._loop is not None
            self._loop.call_soon(on_done, status, kind)
        else:
            on_done(status, kind)

    def expire(self) -> None:
        """Called by the watchdog or timer once the deadline passed: fail the request."""
        if self._on_done is None:
            return
        # A timed-out connection is not reused: its late answer would be taken for the next one.
        self._drop()
        self._finish(0, ErrorKind.TIMEOUT)

    def _drop(self, reset: bool = False) -> None:
        """Close the socket. With `reset`, used once the server has sent a whole answer and
        said it closes, close with RST: the server's side is freed at once instead of waiting
        in TIME_WAIT, so thousands of connections a second do not use up the ephemeral ports
        and slow the next run (the server has nothing left to send or read)."""
        sock, self._sock = self._sock, None
        self._pending = b""
        if sock is not None and self._loop is not None:
            if isinstance(self._loop, PollLoop):
                self._loop.forget(self._fd)  # close() below takes it out of epoll
            else:
                self._loop.remove_reader(self._fd)
                self._loop.remove_writer(self._fd)
            if reset:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_OFF)
            sock.close()

    # -- the awaitable API (sequential callers) --------------------------------------------

    async def request(self, raw: bytes, timeout: float, head_only: bool = False) -> Outcome:
        """Send one request and wait for its answer; never raises for client-side failures."""
        waiter: asyncio.Future[tuple[int, ErrorKind | None]] = (
            asyncio.get_running_loop().create_future()
        )

        def done(status: int, kind: ErrorKind | None) -> None:
            if not waiter.done():
                waiter.set_result((status, kind))

        start = time.perf_counter()
        self.send(raw, head_only, timeout, done)
        try:
            status, kind = await waiter
        except asyncio.CancelledError:
            self.abandon()
            raise
        latency = time.perf_counter() - start
        if kind is not None:
            return Outcome(latency, None, 0, kind)
        return Outcome(latency, status, self.nbytes, None)

    async def close(self) -> None:
        self.abandon()
        if self._watchdog is not None and self in self._watchdog.connections:
            self._watchdog.connections.remove(self)

    def abandon(self) -> None:
        """Close the socket now; a request in flight is forgotten (its callback never runs)."""
        self._on_done = None
        self._stop_timer()
        self._drop()

    def _stop_timer(self) -> None:
        self.deadline = _NEVER
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


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
