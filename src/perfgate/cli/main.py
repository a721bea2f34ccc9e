"""`perfgate`: parse, run the subcommand's handler, and end through the one exit policy.

`main(argv)` returns an exit status; an error from any stage becomes one line on stderr (with
`--traceback` for the whole story), mapped to its code in perfgate.core.exits.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType

from perfgate.cli.parser import build_parser
from perfgate.console import Console
from perfgate.core.exits import error_exit
from perfgate.errors import ExitStatus, PerfgateError, Terminated

Handler = Callable[..., ExitStatus]
# What a shell reports for a program that SIGPIPE ended (128 + 13), as `yes | head` does.
SIGPIPE_EXIT = 141


def _raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


def main(argv: Sequence[str] | None = None, console: Console | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = console or Console()
    handler: Handler = args.handler
    previous = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread:
        signal.signal(signal.SIGTERM, _raise_on_sigterm)
        # A shell starting a background job may have set SIGINT to "ignore": take it back.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return int(handler(args, console))
    except (PerfgateError, KeyboardInterrupt) as exc:
        return int(error_exit(console, exc, show_traceback=args.traceback))
    except BrokenPipeError:
        # The reader of stdout left (`perfgate report ... | head`): nothing more to say, and no
        # one to say it to. Python's last flush at exit would fail again: point it at devnull.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return SIGPIPE_EXIT
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous[0])
            signal.signal(signal.SIGINT, previous[1])


def main_exit() -> None:
    sys.exit(main())
