"""The step detector of the stored history (perfgate.judge.steps) on synthetic series: how often
noise alone is called a step, and how often a real step is placed at the right run.

Series are logs of per-run figures with normal noise; no app is started. Seconds to run.

  python bench/steps.py                 # the tables at the detector's level (STEP_ALPHA)
  python bench/steps.py --alpha 0.05    # the same at another level
  python bench/steps.py --kept DIR ...  # windows of 10 runs of kept histories with a step

`--kept` reads the baseline runs bench/power.py --keep wrote (base-N.json, in the order
recorded: unchanged code) and counts the 10-run windows, as a check compares with, in which the
endpoints' series get a step: each alone, and as one family.

The last two tables are of histories of ten series (five endpoints, median and p95), as
perfgate searches them: each series tested alone (a step if any of the ten has one), and the
ten as one family (joint_steps, what perfgate does). The series are independent, the case
where the joint test costs the most power; an endpoint's median and p95, and a host spell
shared by all, make real series move together.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.power import kept_baseline_runs  # noqa: E402
from perfgate.judge import changepoints, steps  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alpha", type=float, default=changepoints.STEP_ALPHA)
    parser.add_argument("--series", type=int, default=200, help="series per row")
    parser.add_argument("--families", type=int, default=100, help="histories per family row")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--kept", type=Path, nargs="+", default=None, help="--keep folders")
    args = parser.parse_args()
    changepoints.STEP_ALPHA = args.alpha
    if args.kept:
        for folder in args.kept:
            kept_windows(folder)
        return
    rng = random.Random(args.seed)
    print(f"level {args.alpha}, {args.series} series per row")
    print("noise only: series with a (false) step")
    for n in (10, 20, 30):
        for spread in (0.02, 0.03, 0.05):
            found = sum(
                bool(changepoints.find_steps([rng.gauss(0, spread) for _ in range(n)]))
                for _ in range(args.series)
            )
            print(f"  {n} runs, noise {spread:.0%}: {found}/{args.series}")
    print("a 10% step in 3% noise: found exactly at its run (and nowhere else)")
    for n in (10, 20, 30):
        for after in (2, 3, 5):
            at = n - after
            exact = 0
            for _ in range(args.series):
                series = [rng.gauss(0, 0.03) + math.log(1.1) * (i >= at) for i in range(n)]
                exact += [i for i, _ in changepoints.find_steps(series)] == [at]
            print(f"  {n} runs, {after} after the step: {exact}/{args.series}")
    families(rng, args.families)


def kept_windows(folder: Path, size: int = steps.JUDGED_RUNS) -> None:
    runs = kept_baseline_runs(folder)
    windows = [runs[i : i + size] for i in range(len(runs) - size + 1)]
    alone = joint = 0
    for window in windows:
        series = [s for s in steps.history_series(window) if s.cuts]
        alone += any(changepoints.find_steps(s.values, s.least_step) for s in series)
        joint += any(s.cuts for s in steps.history_steps(window))
    members = len([s for s in steps.history_series(runs) if s.cuts])
    print(f"{folder}: {len(runs)} runs, {members} series; windows of {size} with a step: "
          f"each alone {alone}/{len(windows)}, jointly {joint}/{len(windows)}")  # fmt: skip


def families(rng: random.Random, count: int, members: int = 10) -> None:
    print(f"histories of {members} series, {count} per row: each series alone | jointly")
    print("noise only: histories with a (false) step")
    for n in (10, 20, 30):
        for spread in (0.03, 0.05):
            alone = joint = 0
            for _ in range(count):
                family = [[rng.gauss(0, spread) for _ in range(n)] for _ in range(members)]
                alone += any(changepoints.find_steps(series) for series in family)
                joint += bool(changepoints.joint_steps([dict(enumerate(s)) for s in family]))
            print(f"  {n} runs, noise {spread:.0%}: {alone}/{count} | {joint}/{count}")
    print("a 10% step in one series, 3% noise in all: cut exactly at its run (and nowhere else)")
    for n in (10, 20, 30):
        for after in (2, 3, 5):
            at = n - after
            alone = joint = 0
            for _ in range(count):
                family = [[rng.gauss(0, 0.03) for _ in range(n)] for _ in range(members)]
                family[0] = [v + math.log(1.1) * (i >= at) for i, v in enumerate(family[0])]
                cuts = {i for series in family for i, _ in changepoints.find_steps(series)}
                alone += cuts == {at}
                joint += [
                    i for i, _ in changepoints.joint_steps([dict(enumerate(s)) for s in family])
                ] == [at]
            print(f"  {n} runs, {after} after the step: {alone}/{count} | {joint}/{count}")


if __name__ == "__main__":
    main()
