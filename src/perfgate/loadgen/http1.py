"""HTTP/1.1 on the wire, as bytes: the target, the encoded request, and a parser that finds where
one answer ends. No sockets here, so all of it can be tested with bytes alone."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from perfgate.config import Endpoint

MAX_HEADER_BYTES = 64 * 1024


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
