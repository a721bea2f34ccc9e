"""The step detector of the stored history (perfgate.judge.steps) on synthetic series: how often
noise alone is called a step, and how often a real step is placed at the right run.

Series are logs of per-run figures with normal noise; no app is started. Seconds to run.

  python bench/steps.py                 # the tables at the detector's level (STEP_ALPHA)
  python bench/steps.py --alpha 0.05    # the same at another level
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


if __name__ == "__main__":
    main()
