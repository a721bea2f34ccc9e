"""The event loop every measurement runs on, and the way a signal stops it cleanly."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from perfgate.errors import Terminated

T = TypeVar("T")


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
