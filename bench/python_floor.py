"""How close to wrk can any Python client get against gunicorn's sync workers on /health?

`bench/loadgen_vs_wrk.py` compares `perfgate load` with wrk. This script adds the floor under
both: a bare loop in Python that does nothing per request but what every HTTP client over
non-blocking sockets must (epoll, connect, send, one recv, close) and measures nothing, parses
nothing. Its throughput ratio to wrk is the most a Python client can reach on this machine
against this server; what `perfgate load` loses beyond it is its per-request bookkeeping (the
parse, two clock reads, the histogram, the tallies). Rounds alternate the order of the three
clients, c=50 each, on the example app under 2 sync workers.

    python bench/python_floor.py                 # 3 rounds of 3 s
    python bench/python_floor.py --rounds 5 --seconds 5
"""

from __future__ import annotations

import _socket
import argparse
import select
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from bench.loadgen_vs_wrk import run_perfgate, run_wrk  # noqa: E402
from perfgate.config import AppConfig, Endpoint  # noqa: E402
from perfgate.loadgen.http1 import Target, build_request  # noqa: E402
from perfgate.run.server import running_app  # noqa: E402

_LINGER_OFF = struct.pack("ii", 1, 0)


def bare_loop(url: str, connections: int, seconds: float) -> float:
    """Requests per second of the bare loop (run in a child process, like the other clients).
    It assumes what holds for /health under sync workers: the answer arrives in one read and
    the server closes after it."""
    target = Target.from_url(url).resolved()
    raw = build_request(target, Endpoint(name="x", path=url.split(str(target.port), 1)[1]))
    address = (target.address, target.port)
    poller = select.epoll()
    sockets: dict[int, _socket.socket] = {}

    def open_one() -> None:
        sock = _socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
        sock.connect_ex(address)
        sockets[sock.fileno()] = sock
        poller.register(sock.fileno(), select.EPOLLIN)
        sock.send(raw)

    for _ in range(connections):
        open_one()
    done = 0
    start = time.perf_counter()
    end = start + seconds
    while time.perf_counter() < end:
        for fd, _ in poller.poll(1.0):
            sock = sockets.pop(fd)
            sock.recv(65536)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_OFF)
            sock.close()
            done += 1
            open_one()
    return done / (time.perf_counter() - start)


def run_bare(url: str, connections: int, seconds: float) -> float:
    out = subprocess.run(
        [sys.executable, __file__, "--bare", url, str(connections), str(seconds)],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
    ).stdout  # fmt: skip
    return float(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--bare", nargs=3, metavar=("URL", "C", "SECONDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        url, connections, seconds = args.bare
        print(bare_loop(url, int(connections), float(seconds)))
        return 0
    if shutil.which("wrk") is None:
        print("wrk is not installed: `apt-get update && apt-get install -y wrk`", file=sys.stderr)
        return 2
    ratios: dict[str, list[float]] = {"bare Python loop": [], "perfgate load": []}
    with tempfile.TemporaryDirectory(prefix="perfgate-floor-") as tmp:
        app = AppConfig(
            target="examples.softfactory.app:create_app()", workers=2,
            env={"SOFTFACTORY_DB": str(Path(tmp) / "softfactory.db")},
        )  # fmt: skip
        with running_app(app, ROOT, Path(tmp) / "app") as running:
            url = running.base_url + "/health"
            for n in range(args.rounds):
                clients = ["wrk", "bare", "perfgate"]
                if n % 2:
                    clients.reverse()
                rps = {}
                for client in clients:
                    if client == "wrk":
                        rps[client] = run_wrk(url, 50, args.seconds).rps
                    elif client == "bare":
                        rps[client] = run_bare(url, 50, args.seconds)
                    else:
                        rps[client] = run_perfgate(url, 50, args.seconds)[0].rps
                ratios["bare Python loop"].append(rps["bare"] / rps["wrk"])
                ratios["perfgate load"].append(rps["perfgate"] / rps["wrk"])
                print(f"round {n + 1}: wrk {rps['wrk']:.0f} req/s, bare loop {rps['bare']:.0f}, "
                      f"perfgate load {rps['perfgate']:.0f}", flush=True)  # fmt: skip
    print(f"\nsync /health, c=50, throughput / wrk's (median of {args.rounds} rounds):")
    for name, values in ratios.items():
        shown = ", ".join(f"{v:.2f}" for v in values)
        print(f"  {name:<17} {statistics.median(values):.2f}   ({shown})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
