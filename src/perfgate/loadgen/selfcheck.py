"""The load engine's self-check: say when the figures describe the client rather than the app.

A load generator that runs out of CPU, file descriptors or ephemeral ports caps throughput at
its own limit and inflates latency; the report must not blame the app for that. These rules turn
a finished level's own measurements into plain notes.
"""

from __future__ import annotations

from perfgate.loadgen.client import ErrorKind
from perfgate.results import LoadLevel

# One Python thread cannot use more than one core; near that, the client is the bottleneck.
CLIENT_BUSY_SHARE = 0.85
# An open-model run that achieved less than this share of its target rate fell behind.
RATE_SHORTFALL = 0.95


def self_check_notes(level: LoadLevel) -> list[str]:
    """Say when the figures describe the client rather than the app."""
    notes = []
    if level.client_limited:
        notes.append(
            f"perfgate's own CPU use was {level.client_cpu_share:.0%} of one core at "
            f"{level.concurrency} connections: the client, not the app, may have limited "
            "throughput and inflated latency"
        )
    if level.target_rps and level.rps < RATE_SHORTFALL * level.target_rps:
        who = "the client" if level.client_limited else "the app"
        late = level.send_lateness_ms.get("p99")
        lateness = f", p99 send lateness {late:.1f} ms" if late is not None else ""
        notes.append(
            f"achieved {level.rps:.0f} of the {level.target_rps:g} req/s target "
            f"({level.dropped} dropped{lateness}): {who} could not keep up"
        )
    ports = level.errors.get(ErrorKind.PORTS, 0)
    if ports:
        notes.append(
            f"{ports} connects failed with EADDRNOTAVAIL: the client ran out of ephemeral ports "
            "(TIME_WAIT); throughput and errors at this level describe the client's port table"
        )
    files = level.errors.get(ErrorKind.FILES, 0)
    if files:
        notes.append(f"{files} connects failed: the client hit its open-file limit")
    return notes
