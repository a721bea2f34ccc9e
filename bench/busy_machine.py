"""What perfgate's outside-load meter reads on this machine: idle, while a process of its own
burns a core, and while another process (not perfgate's) burns a core.

Each round measures three windows in turn, as a phase is measured (perfgate.measure.neighbours:
two reads of /proc, one at each edge): nothing added ("idle"); a child of this process spinning
("ours", which must read as idle: perfgate's own tree is subtracted); and the same spinner
counted as not perfgate's ("other": the window is read as if nothing here were perfgate's,
roots=[]; this script itself only sleeps). It prints every window, the medians, "other" as a
share of one core, and the margin the `compare.outside_load` default leaves on both sides.
docs/evidence/busy-machine.md.

    python bench/busy_machine.py                 # 4 rounds of 2 s windows, about 25 s
    python bench/busy_machine.py --rounds 6 --seconds 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from perfgate.config import CompareConfig  # noqa: E402
from perfgate.hostload import PhaseLoad  # noqa: E402
from perfgate.measure.neighbours import between, snapshot  # noqa: E402

SPIN = [sys.executable, "-c", "while True: pass"]


def window(seconds: float, roots: list[int] | None = None) -> PhaseLoad:
    """One phase-like window; `roots`: whose trees are "ours" (default: this process's)."""
    start = snapshot(roots)
    time.sleep(seconds)
    return between(start, snapshot(roots), "load", 0)


def burning(seconds: float, roots: list[int] | None) -> PhaseLoad:
    burner = subprocess.Popen(SPIN)
    try:
        time.sleep(0.2)  # let it start spinning before the window begins
        return window(seconds, roots)
    finally:
        burner.kill()
        burner.wait()


def ours(seconds: float) -> PhaseLoad:
    return burning(seconds, None)


def other(seconds: float) -> PhaseLoad:
    return burning(seconds, [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    if not Path("/proc/stat").is_file():
        sys.exit("no /proc/stat: the meter is Linux only")
    figures: dict[str, list[PhaseLoad]] = {"idle": [], "ours": [], "other": []}
    print(f"{os.cpu_count()} CPUs; {args.rounds} rounds of {args.seconds:g} s windows")
    print("round  window  outside cores  steal")
    for i in range(args.rounds):
        for name, measure in (("idle", window), ("ours", ours), ("other", other)):
            load = measure(args.seconds)
            figures[name].append(load)
            print(f"{i + 1:>5}  {name:<6}  {load.outside_cores:>13.2f}  {load.steal_share:>5.1%}")
    medians = {k: statistics.median(p.outside_cores for p in v) for k, v in figures.items()}
    worst_idle = max(p.outside_cores for p in figures["idle"] + figures["ours"])
    least_other = min(p.outside_cores for p in figures["other"])
    limit = CompareConfig().outside_load
    print(
        f"median outside cores: idle {medians['idle']:.2f}, ours burning {medians['ours']:.2f}, "
        f"other burning {medians['other']:.2f} ({medians['other']:.0%} of one core)"
    )
    print(
        f"highest quiet window {worst_idle:.2f}, lowest busy window {least_other:.2f}; "
        f"compare.outside_load {limit:g}: {limit - worst_idle:+.2f} above quiet, "
        f"{least_other - limit:+.2f} below busy"
    )
    steal = max(p.steal_share for v in figures.values() for p in v)
    print(f"highest steal share in any window: {steal:.1%}")


if __name__ == "__main__":
    main()
