"""A lean HTTP/1.1 client over asyncio streams, shared by the profiler and the load engine.

Why not requests: at ~1 ms of client CPU per request it would measure itself on a 2-core runner.
This client pre-builds each request's bytes, keeps the connection alive where the server allows
and reconnects where it answers `Connection: close` (gunicorn's sync workers always do).
Client-side failures are kept apart from server answers by `ErrorKind`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from perfgate.config import Endpoint

MAX_HEADER_BYTES = 64 * 1024


class ErrorKind(StrEnum):
    TIMEOUT = "timeout"
    CONNECT = "connect_refused"
    RESET = "connection_reset"
    PROTOCOL = "protocol_error"
    STATUS = "unexpected_status"


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

    @classmethod
    def from_url(cls, base_url: str) -> Target:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"only http:// URLs are supported, got {base_url!r}")
        return cls(parts.hostname, parts.port or 80)


def build_request(target: Target, endpoint: Endpoint) -> bytes:
    body = (endpoint.body or "").encode()
    headers = {
        "Host": f"{target.host}:{target.port}",
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


class Connection:
    """One keep-alive connection that reopens itself when the server closed it."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes, timeout: float, head_only: bool = False) -> Outcome:
        start = time.perf_counter()
        try:
            status, nbytes = await asyncio.wait_for(self._exchange(raw, head_only), timeout)
            return Outcome(time.perf_counter() - start, status, nbytes, None)
        except TimeoutError:
            kind = ErrorKind.TIMEOUT
        except ConnectionRefusedError:
            kind = ErrorKind.CONNECT
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            kind = ErrorKind.RESET
        except (ProtocolError, ValueError, asyncio.LimitOverrunError):
            kind = ErrorKind.PROTOCOL
        await self.close()
        return Outcome(time.perf_counter() - start, None, 0, kind)

    async def _exchange(self, raw: bytes, head_only: bool) -> tuple[int, int]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(
                self.target.host, self.target.port, limit=MAX_HEADER_BYTES
            )
        assert self._reader is not None
        self._writer.write(raw)
        await self._writer.drain()
        status, length, chunked, keep_alive = _parse_head(await self._reader.readuntil(b"\r\n\r\n"))
        if head_only or status in (204, 304) or 100 <= status < 200:
            nbytes = 0
        elif chunked:
            nbytes = await _read_chunked(self._reader)
        elif length is not None:
            await self._reader.readexactly(length)
            nbytes = length
        else:
            nbytes = len(await self._reader.read())
            keep_alive = False
        if not keep_alive:
            await self.close()
        return status, nbytes

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass


def _parse_head(head: bytes) -> tuple[int, int | None, bool, bool]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise ProtocolError(f"bad status line {lines[0][:80]!r}")
    status = int(parts[1])
    keep_alive = parts[0] == "HTTP/1.1"
    length: int | None = None
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        value = value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding":
            chunked = "chunked" in value
        elif name == "connection":
            keep_alive = "close" not in value and (keep_alive or "keep-alive" in value)
    return status, length, chunked, keep_alive


async def _read_chunked(reader: asyncio.StreamReader) -> int:
    total = 0
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";")[0].strip(), 16)
        if size == 0:
            # Trailers end with an empty line.
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass
            return total
        await reader.readexactly(size + 2)
        total += size


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where installed: it halves the client's CPU per request."""
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:
        return asyncio.new_event_loop()
