"""The client machine's own limits that can spoil a load test: open files and ephemeral ports.

Holding 1,000 connections needs as many file descriptors; the soft limit is often 1,024, so it is
raised to the hard limit where the process may. Against servers that close every connection
(gunicorn's sync workers), each request leaves a socket in TIME_WAIT for about a minute; once the
ephemeral port range is used up, connects fail with EADDRNOTAVAIL or slow down, and the figures
would describe the client's port table instead of the app. These functions find that out so the
load engine can say so instead of mis-measuring.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

try:
    import resource
except ImportError:  # pragma: no cover - not on POSIX
    resource = None  # type: ignore[assignment]

# Spare descriptors beyond one per connection: the event loop, log files, the app's pipes.
SPARE_FILES = 64
TIME_WAIT_STATE = "06"


@dataclass(frozen=True)
class FileLimit:
    soft: int
    hard: int
    raised_from: int | None = None

    def note(self, needed: int) -> str | None:
        if self.soft >= needed:
            if self.raised_from is not None:
                return f"raised the open-file limit from {self.raised_from} to {self.soft}"
            return None
        return (
            f"the open-file limit is {self.soft} (hard limit {self.hard}), below the {needed} "
            "this run needs: some connections will fail with client_file_limit; raise it with "
            "`ulimit -n` before running"
        )


def ensure_file_limit(connections: int) -> FileLimit:
    """Raise the soft RLIMIT_NOFILE towards what `connections` need, as far as the hard limit."""
    if resource is None:
        return FileLimit(soft=connections + SPARE_FILES, hard=connections + SPARE_FILES)
    needed = connections + SPARE_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    unlimited = hard == resource.RLIM_INFINITY
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if unlimited else min(needed, hard)
        if target <= soft:
            return FileLimit(soft=soft, hard=hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            return FileLimit(soft=target, hard=hard if not unlimited else target, raised_from=soft)
        except (ValueError, OSError):
            pass
    big = 1 << 30
    return FileLimit(
        soft=big if soft == resource.RLIM_INFINITY else soft,
        hard=big if unlimited else hard,
    )


def port_range(path: Path = Path("/proc/sys/net/ipv4/ip_local_port_range")) -> int | None:
    """How many ephemeral ports the kernel hands out, or None where it cannot be read."""
    try:
        low, high = (int(part) for part in path.read_text().split())
    except (OSError, ValueError):
        return None
    return high - low + 1


def time_wait_total(path: Path = Path("/proc/net/sockstat")) -> int | None:
    """All TIME_WAIT sockets of this machine, cheaply (the `tw` figure of /proc/net/sockstat)."""
    try:
        fields = next(x for x in path.read_text().splitlines() if x.startswith("TCP:")).split()
        return int(fields[fields.index("tw") + 1])
    except (OSError, StopIteration, ValueError, IndexError):
        return None


def time_wait_count(
    port: int, paths: tuple[Path, ...] = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
) -> int | None:
    """TIME_WAIT sockets to or from `port` (a port blocks reuse only towards the same
    destination), from /proc/net/tcp; None where it cannot be read."""
    total = 0
    readable = False
    wanted = f":{port:04X}"
    for path in paths:
        try:
            lines = path.read_text().splitlines()[1:]
        except OSError:
            continue
        readable = True
        for line in lines:
            fields = line.split(None, 4)
            if len(fields) > 3 and fields[3] == TIME_WAIT_STATE:
                if fields[1].endswith(wanted) or fields[2].endswith(wanted):
                    total += 1
    return total if readable else None


def tw_reuse(path: Path = Path("/proc/sys/net/ipv4/tcp_tw_reuse")) -> int:
    """net.ipv4.tcp_tw_reuse: 0 off, 1 on, 2 on for loopback only (Linux's default)."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return 0


@dataclass(frozen=True)
class PortPressure:
    time_wait: int
    ports: int
    reuse: bool = False  # the kernel may reuse TIME_WAIT ports for this target

    @property
    def share(self) -> float:
        return self.time_wait / self.ports if self.ports else 0.0

    def note(self, when: str) -> str | None:
        if self.share < 0.5 or self.reuse:
            return None
        return (
            f"{when}, {self.time_wait} sockets were in TIME_WAIT against {self.ports} ephemeral "
            "ports: new connections may fail (ephemeral_ports_exhausted) or slow down; wait a "
            "minute between runs, use keep-alive workers, or enable net.ipv4.tcp_tw_reuse"
        )


def port_pressure(address: str, port: int) -> PortPressure | None:
    """TIME_WAIT sockets towards (address, port) against the ephemeral port range.

    The machine-wide count is read first (cheap); the per-port count, which means reading the
    whole socket table, only when the total is high enough to matter."""
    ports, total = port_range(), time_wait_total()
    if ports is None:
        return None
    mode = tw_reuse()
    loopback = address.startswith("127.") or address == "::1"
    reuse = mode == 1 or (mode == 2 and loopback)
    if reuse or (total is not None and total < ports // 2):
        return PortPressure(total or 0, ports, reuse)
    waiting = time_wait_count(port)
    return None if waiting is None else PortPressure(waiting, ports, reuse)
