"""Small HTTP servers over real sockets on 127.0.0.1, each misbehaving in one chosen way.

The load engine must cope with answers gunicorn never gives (chunked bodies split mid-line,
bodies delimited by EOF, malformed status lines, resets, hangs, idle keep-alive closes). Each
connection is served by its own thread; `stop()` closes everything so no thread outlives a test.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable

Handler = Callable[["AdhocServer", socket.socket, int], None]


class AdhocServer:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(256)
        self.listener.settimeout(0.05)  # so the accept loop notices stop() promptly
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.accepted = 0
        self.requests = 0
        self.heads: list[bytes] = []
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> AdhocServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.listener.close()
        with self.lock:
            for sock in self.sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(None)
            with self.lock:
                self.accepted += 1
                self.sockets.append(sock)
                number = self.accepted
            threading.Thread(target=self._serve, args=(sock, number), daemon=True).start()

    def _serve(self, sock: socket.socket, number: int) -> None:
        try:
            self.handler(self, sock, number)
        except OSError:
            pass

    def read_request(self, sock: socket.socket) -> bytes | None:
        """Read one request head (requests here have no body); None when the client closed."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            data += chunk
        with self.lock:
            self.requests += 1
            self.heads.append(data)
        return data


def ok(body: bytes = b"hello", extra: str = "") -> bytes:
    return (f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n").encode() + body


def keep_alive(server: AdhocServer, sock: socket.socket, _: int) -> None:
    while server.read_request(sock) is not None:
        sock.sendall(ok())


def close_each(server: AdhocServer, sock: socket.socket, _: int) -> None:
    if server.read_request(sock) is not None:
        sock.sendall(ok(extra="Connection: close\r\n"))
    sock.close()


def chunked_split(server: AdhocServer, sock: socket.socket, _: int) -> None:
    """A chunked body sent in pieces that cut through the head, a size line and a chunk."""
    pieces = [
        b"HTTP/1.1 200 OK\r\nTransfer-Enc",
        b"oding: chunked\r\n\r\n5;ext=1\r\nhel",
        b"lo\r\n1",
        b"0\r\n0123456789abcdef\r\n0\r\nX-Trailer: yes\r\n",
        b"\r\n",
    ]
    while server.read_request(sock) is not None:
        for piece in pieces:
            sock.sendall(piece)
            time.sleep(0.002)


def until_eof(server: AdhocServer, sock: socket.socket, _: int) -> None:
    if server.read_request(sock) is not None:
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nbody until close")
    sock.close()


def malformed(server: AdhocServer, sock: socket.socket, _: int) -> None:
    while server.read_request(sock) is not None:
        sock.sendall(b"HTTZ/9 whatever\r\n\r\n")


def bad_length(server: AdhocServer, sock: socket.socket, _: int) -> None:
    while server.read_request(sock) is not None:
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\n")


def reset(server: AdhocServer, sock: socket.socket, _: int) -> None:
    if server.read_request(sock) is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def hang(server: AdhocServer, sock: socket.socket, _: int) -> None:
    while server.read_request(sock) is not None:
        server.stopping.wait(30)


def idle_close(server: AdhocServer, sock: socket.socket, _: int) -> None:
    """Answer once as keep-alive, then close while idle (a keep-alive timeout)."""
    if server.read_request(sock) is not None:
        sock.sendall(ok())
        time.sleep(0.05)
    sock.close()


def stall_once(at_request: int, stall_s: float) -> Handler:
    """Keep-alive answers at once, except request number `at_request`, which waits `stall_s`."""

    def handler(server: AdhocServer, sock: socket.socket, _: int) -> None:
        while server.read_request(sock) is not None:
            if server.requests == at_request:
                time.sleep(stall_s)
            sock.sendall(ok())

    return handler
