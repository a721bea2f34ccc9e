"""A minimal callback loop on epoll, for the load engine's hot path.

Why not asyncio's loop (even uvloop's): against a server that closes every connection, a load
level registers and drops one socket per request, and on a 2-core runner every microsecond the
client spends per request is taken from the app it measures. uvloop's add_reader/remove_reader
create and free a poll handle each time; here they are one epoll_ctl and a dict entry. The loop
offers only what `loadgen.client.Connection` and the load engine call, under asyncio's names, so one
Connection class runs on either loop.

Signals are left to Python's handlers: Ctrl-C (or perfgate's SIGTERM handler) raises out of
`run_until`, and the caller's `finally` closes its sockets. There are no tasks to leave half-done.
"""

from __future__ import annotations

import heapq
import select
import time
from collections.abc import Callable
from typing import Any

_IN = select.EPOLLIN | select.EPOLLERR | select.EPOLLHUP
_OUT = select.EPOLLOUT | select.EPOLLERR | select.EPOLLHUP


class Timer:
    """A callback due at `when` (monotonic seconds), unless cancelled."""

    __slots__ = ("when", "callback", "args", "cancelled")

    def __init__(self, when: float, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __lt__(self, other: Timer) -> bool:
        return self.when < other.when


class PollLoop:
    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._readers: dict[int, Callable[[], Any]] = {}
        self._writers: dict[int, Callable[[], Any]] = {}
        self._masks: dict[int, int] = {}
        self._timers: list[Timer] = []
        self._soon: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        # The clock of deadlines and timers, called once per request: the builtin itself
        # rather than a method that calls it.
        self.time: Callable[[], float] = time.monotonic

    def add_reader(self, fd: int, callback: Callable[[], Any]) -> None:
        self._readers[fd] = callback
        self._update(fd)

    def add_writer(self, fd: int, callback: Callable[[], Any]) -> None:
        self._writers[fd] = callback
        self._update(fd)

    def remove_reader(self, fd: int) -> bool:
        if self._readers.pop(fd, None) is None:
            return False
        self._update(fd)
        return True

    def remove_writer(self, fd: int) -> bool:
        if self._writers.pop(fd, None) is None:
            return False
        self._update(fd)
        return True

    def forget(self, fd: int) -> None:
        """Drop `fd`'s callbacks without an epoll_ctl, for a socket about to be closed: closing
        the last descriptor of a socket takes it out of the epoll set by itself."""
        self._readers.pop(fd, None)
        self._writers.pop(fd, None)
        self._masks.pop(fd, None)

    def _update(self, fd: int) -> None:
        mask = (select.EPOLLIN if fd in self._readers else 0) | (
            select.EPOLLOUT if fd in self._writers else 0
        )
        old = self._masks.get(fd, 0)
        if mask == old:
            return
        if not mask:
            del self._masks[fd]
            self._epoll.unregister(fd)
            return
        self._masks[fd] = mask
        if old:
            self._epoll.modify(fd, mask)
        else:
            self._epoll.register(fd, mask)

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> None:
        self._soon.append((callback, args))

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> Timer:
        timer = Timer(when, callback, args)
        heapq.heappush(self._timers, timer)
        return timer

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Timer:
        return self.call_at(time.monotonic() + delay, callback, *args)

    def run_until(self, done: Callable[[], bool]) -> None:
        """Dispatch events and timers until `done()` is true."""
        poll, readers, writers, timers = (
            self._epoll.poll,
            self._readers,
            self._writers,
            self._timers,
        )
        while not done():
            if self._soon:
                timeout = 0.0
            elif timers:
                timeout = max(0.0, timers[0].when - time.monotonic())
            else:
                timeout = 1.0
            for fd, events in poll(timeout):
                # A callback may have dropped this fd, or a new socket reused its number: the
                # callbacks treat a wake-up with nothing to read or write as harmless.
                if events & _IN:
                    callback = readers.get(fd)
                    if callback is not None:
                        callback()
                if events & _OUT:
                    callback = writers.get(fd)
                    if callback is not None:
                        callback()
            if timers:
                now = time.monotonic()
                while timers and timers[0].when <= now:
                    timer = heapq.heappop(timers)
                    if not timer.cancelled:
                        timer.callback(*timer.args)
            if self._soon:
                soon, self._soon = self._soon, []
                for callback, args in soon:
                    callback(*args)

    def close(self) -> None:
        self._epoll.close()
