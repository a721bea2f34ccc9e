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
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from perfgate.loadgen.http1 import ProtocolError, ResponseParser, Target
from perfgate.loadgen.pollloop import PollLoop, Timer

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
# Against a server that waits for the client to close (gunicorn's sync workers do), each microsecond
# the client spends per request holds a worker longer: measured here, 6 us less client time per
# request gave the server 2.3% more throughput (docs/evidence/load-engine-vs-wrk.md).
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
