"""Exit codes and the exception families each stage raises.

Only the shells catch these (through perfgate.core.exits): one line, the family's exit code.
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0
    GATE_FAILED = 1
    USAGE = 2
    CANNOT_MEASURE = 3
    INTERRUPTED = 130
    TERMINATED = 143


class PerfgateError(Exception):
    """An error perfgate explains in one line; `hint` says what to do next."""

    exit_status: ExitStatus = ExitStatus.USAGE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(PerfgateError):
    """thresholds.yaml or a command-line value is wrong."""


class ResultsError(PerfgateError):
    """A results or baseline file cannot be read or written."""


class MeasurementError(PerfgateError):
    """perfgate could not measure: the app would not start, died, or did not answer."""

    exit_status = ExitStatus.CANNOT_MEASURE

    def __init__(
        self, message: str, hint: str | None = None, log_tail: str = "", log_name: str = "app log"
    ) -> None:
        super().__init__(message, hint)
        self.log_tail = log_tail
        self.log_name = log_name  # which log the tail comes from


class Interrupted(PerfgateError):
    """perfgate received SIGINT (exit 130) or SIGTERM (exit 143)."""

    exit_status = ExitStatus.INTERRUPTED

    def __init__(self, message: str, hint: str | None = None, *, terminated: bool = False) -> None:
        super().__init__(message, hint)
        self.exit_status = ExitStatus.TERMINATED if terminated else ExitStatus.INTERRUPTED


class Terminated(KeyboardInterrupt):
    """Raised by perfgate's SIGTERM handler. A KeyboardInterrupt, like Ctrl-C, because asyncio
    and other libraries swallow ordinary exceptions raised inside callbacks but never these."""
