"""The load engine's epoll loop: readers, writers and timers on real sockets."""

from __future__ import annotations

import socket

from perfgate.loadgen.pollloop import PollLoop


def test_timers_run_in_time_order_and_cancelled_ones_do_not() -> None:
    loop = PollLoop()
    ran: list[str] = []
    loop.call_later(0.03, ran.append, "late")
    loop.call_later(0.01, ran.append, "early")
    loop.call_later(0.02, ran.append, "cancelled").cancel()
    loop.call_soon(ran.append, "soon")
    try:
        loop.run_until(lambda: len(ran) == 3)
    finally:
        loop.close()
    assert ran == ["soon", "early", "late"]


def test_readers_and_writers_are_called_until_removed() -> None:
    loop = PollLoop()
    left, right = socket.socketpair()
    left.setblocking(False)
    right.setblocking(False)
    got: list[bytes] = []

    def on_writable() -> None:
        loop.remove_writer(left.fileno())
        left.send(b"ping")

    def on_readable() -> None:
        got.append(right.recv(16))
        loop.remove_reader(right.fileno())

    loop.add_writer(left.fileno(), on_writable)
    loop.add_reader(right.fileno(), on_readable)
    try:
        loop.run_until(lambda: bool(got))
        assert got == [b"ping"]
        # Both removed: neither fd is watched, and removing again says so.
        assert not loop.remove_reader(right.fileno()) and not loop.remove_writer(left.fileno())
        left.send(b"again")
        loop.call_later(0.02, got.append, b"timer")
        loop.run_until(lambda: len(got) == 2)
        assert got == [b"ping", b"timer"]  # the unwatched socket's data woke nobody
    finally:
        loop.close()
        left.close()
        right.close()


def test_a_forgotten_socket_closed_then_its_number_reused_is_watched_afresh() -> None:
    loop = PollLoop()
    old, peer = socket.socketpair()
    fd = old.fileno()
    loop.add_reader(fd, lambda: None)
    loop.forget(fd)
    old.close()  # leaves the epoll set with the descriptor
    again, other = socket.socketpair()
    got: list[bytes] = []
    try:
        assert fd in (again.fileno(), other.fileno())  # the kernel reuses the lowest number
        reused = again if again.fileno() == fd else other
        writer = other if reused is again else again
        loop.add_reader(fd, lambda: got.append(reused.recv(16)))
        writer.send(b"hello")
        loop.run_until(lambda: bool(got))
    finally:
        loop.close()
        for sock in (peer, again, other):
            sock.close()
    assert got == [b"hello"]
