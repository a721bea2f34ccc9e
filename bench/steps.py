"""The step detector of the stored history (perfgate.judge.steps) on synthetic series: how often
noise alone is called a step, and how often a real step is placed at the right run.

Series are logs of per-run figures with normal noise; no app is started. Seconds to run.

  python bench/steps.py                 # the tables at the detector's level (STEP_ALPHA)
  python bench/steps.py --alpha 0.05    # the same at another level

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

from perfgate.judge import steps  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alpha", type=float, default=steps.STEP_ALPHA)
    parser.add_argument("--series", type=int, default=200, help="series per row")
    parser.add_argument("--families", type=int, default=100, help="histories per family row")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    steps.STEP_ALPHA = args.alpha
    rng = random.Random(args.seed)
    print(f"level {args.alpha}, {args.series} series per row")
    print("noise only: series with a (false) step")
    for n in (10, 20, 30):
        for spread in (0.02, 0.03, 0.05):
            found = sum(
                bool(steps.find_steps([rng.gauss(0, spread) for _ in range(n)]))
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
                exact += [i for i, _ in steps.find_steps(series)] == [at]
            print(f"  {n} runs, {after} after the step: {exact}/{args.series}")
    families(rng, args.families)


def families(rng: random.Random, count: int, members: int = 10) -> None:
    print(f"histories of {members} series, {count} per row: each series alone | jointly")
    print("noise only: histories with a (false) step")
    for n in (10, 20, 30):
        for spread in (0.03, 0.05):
            alone = joint = 0
            for _ in range(count):
                family = [[rng.gauss(0, spread) for _ in range(n)] for _ in range(members)]
                alone += any(steps.find_steps(series) for series in family)
                joint += bool(steps.joint_steps([dict(enumerate(s)) for s in family]))
            print(f"  {n} runs, noise {spread:.0%}: {alone}/{count} | {joint}/{count}")
    print("a 10% step in one series, 3% noise in all: cut exactly at its run (and nowhere else)")
    for n in (10, 20, 30):
        for after in (2, 3, 5):
            at = n - after
            alone = joint = 0
            for _ in range(count):
                family = [[rng.gauss(0, 0.03) for _ in range(n)] for _ in range(members)]
                family[0] = [v + math.log(1.1) * (i >= at) for i, v in enumerate(family[0])]
                cuts = {i for series in family for i, _ in steps.find_steps(series)}
                alone += cuts == {at}
                joint += [
                    i for i, _ in steps.joint_steps([dict(enumerate(s)) for s in family])
                ] == [at]
            print(f"  {n} runs, {after} after the step: {alone}/{count} | {joint}/{count}")


if __name__ == "__main__":
    main()
