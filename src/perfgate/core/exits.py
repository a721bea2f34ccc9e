"""How a command ends: the one exit policy for a verdict, and the one place an error becomes a
line on stderr and an exit status. The CLI and the Action both end through here."""

from __future__ import annotations

import traceback

from perfgate.console import Console
from perfgate.errors import ExitStatus, Interrupted, MeasurementError, PerfgateError, Terminated
from perfgate.results import VerdictName

# The Action's `fail-on` input: which verdicts fail the step.
BLOCKING: dict[str, tuple[VerdictName, ...]] = {
    "fail": ("fail",),
    "inconclusive": ("fail", "inconclusive"),
    "never": (),
}


def gate_exit(verdict: VerdictName, *, strict: bool, fail_on: str | None = None) -> ExitStatus:
    """The exit status of a check that finished. `fail_on` (the Action's input) decides when
    given; otherwise `compare.strict` of the config says whether inconclusive fails too."""
    if verdict == "error":
        return ExitStatus.CANNOT_MEASURE  # nothing was compared: whatever fail-on says
    rule = fail_on or ("inconclusive" if strict else "fail")
    return ExitStatus.GATE_FAILED if verdict in BLOCKING[rule] else ExitStatus.OK


def error_exit(
    console: Console, error: PerfgateError | KeyboardInterrupt, *, show_traceback: bool = False
) -> ExitStatus:
    """Say what went wrong in one line (and the app log's last lines, where that explains it),
    and return the exit status it maps to."""
    if isinstance(error, KeyboardInterrupt):
        if isinstance(error, Terminated):
            console.say("stopped by SIGTERM; every process it started was stopped")
            return ExitStatus.TERMINATED
        console.say("interrupted by SIGINT; every process it started was stopped")
        return ExitStatus.INTERRUPTED
    if isinstance(error, Interrupted):
        console.say(f"{error}; every process it started was stopped")
        return error.exit_status
    if show_traceback:
        console.aside(traceback.format_exc().rstrip("\n"))
    console.say(f"error: {error}")
    if isinstance(error, MeasurementError) and error.log_tail:
        console.aside(f"--- {error.log_name} (last lines) ---")
        console.aside(error.log_tail)
    return error.exit_status
