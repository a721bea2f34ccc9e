"""perfgate's load engine against wrk, side by side, on the bundled example app.

Starts SoftFactory under gunicorn (sync workers, then gthread workers) through perfgate's own
server module, and on /health and a database endpoint runs `wrk` and `perfgate load` back to
back, alternating which goes first, several times. Prints, per case, the throughput ratio
(perfgate / wrk), p50 and p99 side by side, and the client CPU per request of both: wrk's from
getrusage(RUSAGE_CHILDREN) deltas around its process; perfgate's as it measures itself over the
run (process CPU time), since its rusage also holds Python's start-up (shown alongside). Then
holds 1,000 connections with perfgate and counts client-side errors. Both clients use one
thread (wrk -t1), as perfgate does, and send the same request headers.

Installs nothing: it needs `wrk` on PATH (Debian: `apt-get update && apt-get install -y wrk`).

    python bench/loadgen_vs_wrk.py            # 5 rounds of 5 s per case
    python bench/loadgen_vs_wrk.py --quick    # 2 rounds of 2 s: proves it works, noisy figures
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from perfgate.config import AppConfig, Endpoint  # noqa: E402
from perfgate.loadgen.http1 import Target, build_request  # noqa: E402
from perfgate.run.server import running_app  # noqa: E402

ENDPOINTS = {"health": "/health", "db": "/api/products?page=3&per_page=20"}
TARGETS = {"db": 0.95, "health": 0.90}  # throughput ratio perfgate / wrk at c=50
CLIENT_SIDE = {"client_file_limit", "ephemeral_ports_exhausted", "protocol_error"}


@dataclass(frozen=True)
class Sample:
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float  # client CPU per request from rusage (whole client process)
    own_cpu_us: float | None = None  # perfgate's self-measured figure (the run only)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip()).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def same_headers(url: str) -> list[str]:
    """wrk's -H options for the headers perfgate sends besides Host, so that both clients send
    the same bytes: the server parses every header in Python, and extra work on its side would
    count against whichever client sends more."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    raw = build_request(Target.from_url(url), Endpoint(name="x", path=path)).decode("latin-1")
    lines = raw.split("\r\n")[1:]
    options = []
    for line in lines:
        if line and not line.lower().startswith("host:"):
            options += ["-H", line]
    return options


def run_wrk(url: str, connections: int, seconds: float) -> Sample:
    before = children_cpu()
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", *same_headers(url),
         url],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
    ).stdout  # fmt: skip
    cpu = children_cpu() - before
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return Sample(
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        p50_ms=_ms(re.search(r"50%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
        p99_ms=_ms(re.search(r"99%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
        cpu_us=cpu / max(requests, 1) * 1e6,
    )


def run_perfgate(url: str, connections: int, seconds: float) -> tuple[Sample, dict[str, int]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    before = children_cpu()
    done = subprocess.run(
        [sys.executable, "-m", "perfgate", "load", url, "-c", str(connections),
         "-d", f"{seconds:g}", "--json"],
        capture_output=True, text=True, env=env, timeout=seconds + 120, check=False,
    )  # fmt: skip
    cpu = children_cpu() - before
    if done.returncode != 0:
        raise SystemExit(f"perfgate load failed ({done.returncode}): {done.stderr.strip()}")
    result = json.loads(done.stdout)
    sample = Sample(
        rps=result["rps"],
        p50_ms=result["latency_ms"]["p50"] or 0.0,
        p99_ms=result["latency_ms"]["p99"] or 0.0,
        cpu_us=cpu / max(result["requests"], 1) * 1e6,
        own_cpu_us=result["client_cpu_us_per_request"],
    )
    return sample, result["errors"]


def compare(url: str, rounds: int, seconds: float) -> tuple[list[Sample], list[Sample]]:
    wrk, ours = [], []
    for n in range(rounds):
        # Alternate who goes first, so a drift of the machine does not favour one side.
        if n % 2 == 0:
            wrk.append(run_wrk(url, 50, seconds))
            ours.append(run_perfgate(url, 50, seconds)[0])
        else:
            ours.append(run_perfgate(url, 50, seconds)[0])
            wrk.append(run_wrk(url, 50, seconds))
    return wrk, ours


def median(values: list[float]) -> float:
    return statistics.median(values)


def report(case: str, endpoint: str, wrk: list[Sample], ours: list[Sample]) -> list[str]:
    ratio = median([o.rps / w.rps for o, w in zip(ours, wrk, strict=True) if w.rps])
    # perfgate's figure for the run itself: its process-wide rusage also holds ~1 s of Python
    # start-up and imports, which a C program like wrk does not pay (shown as "with start-up").
    own = [o.own_cpu_us or o.cpu_us for o in ours]
    cpu_ratio = median([c / w.cpu_us for c, w in zip(own, wrk, strict=True) if w.cpu_us])
    p50_ratio = median([o.p50_ms / w.p50_ms for o, w in zip(ours, wrk, strict=True) if w.p50_ms])
    # At a fixed number of connections, latency is connections / throughput (Little's law): a
    # client that gets less throughput shows a higher p50 for that reason alone. Scaled to equal
    # throughput, the p50 ratio is what the client itself adds to the latency it reports.
    at_equal = median(
        [o.p50_ms * o.rps / (w.p50_ms * w.rps) for o, w in zip(ours, wrk, strict=True) if w.p50_ms]
    )
    target = TARGETS[endpoint]
    print(
        f"{case:<16} {median([w.rps for w in wrk]):>8.0f} {median([o.rps for o in ours]):>8.0f}"
        f" {ratio:>6.2f} {'ok' if ratio >= target else 'MISS':>4} (>= {target:.2f})"
        f" | p50 {median([w.p50_ms for w in wrk]):>6.2f} {median([o.p50_ms for o in ours]):>6.2f}"
        f" ({p50_ratio:.2f}x; {at_equal:.2f}x at equal throughput"
        f" {'ok' if at_equal <= 1.10 else 'MISS'})"
        f" | p99 {median([w.p99_ms for w in wrk]):>7.2f} {median([o.p99_ms for o in ours]):>7.2f}"
        f" | CPU us/req {median([w.cpu_us for w in wrk]):>5.0f} {median(own):>5.0f}"
        f" {cpu_ratio:.2f}x {'ok' if cpu_ratio <= 2 else 'MISS'}"
        f" (with start-up {median([o.cpu_us for o in ours]):.0f})"
    )  # fmt: skip
    return [] if ratio >= target and cpu_ratio <= 2 and at_equal <= 1.10 else [case]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds of 2 s per case")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: run `apt-get update && apt-get install -y wrk` "
              "(Debian/Ubuntu) and try again.", file=sys.stderr)  # fmt: skip
        return 2
    rounds = args.rounds or (2 if args.quick else 5)
    seconds = args.seconds or (2.0 if args.quick else 5.0)
    print(f"c=50, {rounds} rounds x {seconds:g} s per client and case; wrk -t1; medians of rounds")
    print(f"{'case':<16} {'wrk':>8} {'perfgate':>8} {'ratio':>6}")
    missed: list[str] = []
    scale: list[str] = []
    with tempfile.TemporaryDirectory(prefix="perfgate-bench-") as tmp:
        for worker_class in ("sync", "gthread"):
            app = AppConfig(
                target="examples.softfactory.app:create_app()", workers=2,
                worker_class=worker_class, threads=4 if worker_class == "gthread" else 1,
                env={"SOFTFACTORY_DB": str(Path(tmp) / "softfactory.db")},
            )  # fmt: skip
            with running_app(app, ROOT, Path(tmp) / worker_class) as running:
                for endpoint, path in ENDPOINTS.items():
                    wrk, ours = compare(running.base_url + path, rounds, seconds)
                    missed += report(f"{worker_class} {endpoint}", endpoint, wrk, ours)
                sample, errors = run_perfgate(running.base_url + "/health", 1000, seconds)
                ours_errors = {k: v for k, v in errors.items() if k in CLIENT_SIDE}
                scale.append(
                    f"{worker_class}: c=1000 {sample.rps:.0f} req/s, p99 {sample.p99_ms:.0f} ms,"
                    f" errors {errors or 'none'}, client-side {ours_errors or 'none'}"
                )
                missed += [f"{worker_class} c=1000"] if ours_errors else []
    print("\n1,000 connections (perfgate load, /health):")
    print("\n".join(f"  {line}" for line in scale))
    print(f"\ntargets missed: {', '.join(missed) if missed else 'none'}")
    print("(figures on a shared machine are noisy; compare ratios within one run only)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
