"""The A/B error model on simulated checks: false alarms of unchanged code when the instance
pairs differ, with and without the pairs' spread in the interval (perfgate.judge.stats).

Each simulated check has 4 instance pairs and 30 trials rotating over them; its 10 series (the
endpoints and metrics of a check) share the pairs' effects (a slow process is slow on every
endpoint) and each has its own trial noise. Every series is judged as the gate judges it, at the
one-sided level of the first of 13 Holm steps, once from its trials and the 1% floor alone and
once with the pairs' spread pooled over the check. Prints the share significant per pair
effect; the level is what both should stay near. Pure arithmetic: about a minute.

  python bench/pair_model.py
  python bench/pair_model.py --checks 4000 --trial-sd 0.03
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from perfgate.judge.stats import compare_paired, pair_spread  # noqa: E402

PAIRS, TRIALS, SERIES, CHECKS_IN_FAMILY = 4, 30, 10, 13


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=1500, help="simulated checks per row")
    parser.add_argument("--trial-sd", type=float, default=0.04, help="a trial's noise, log sd")
    parser.add_argument("--floor", type=float, default=0.01, help="compare.ab_floor")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    groups = [t % PAIRS for t in range(TRIALS)]
    level = 0.05 / CHECKS_IN_FAMILY
    print(
        f"{PAIRS} pairs, {TRIALS} trials, {SERIES} series per check sharing the pair effects, "
        f"trial sd {args.trial_sd:.0%}, floor {args.floor:.0%}; one-sided level {level:.2%}"
    )
    print("| pair effect sd | trials and floor only | with the pairs' spread |")
    print("|---|---|---|")
    for pair_sd in (0.0, 0.01, 0.02, 0.03, 0.05, 0.08):
        plain = grouped = total = 0
        for _ in range(args.checks):
            effects = rng.normal(0.0, pair_sd, PAIRS)
            shared = np.array([effects[g] for g in groups])
            series = [list(shared + rng.normal(0.0, args.trial_sd, TRIALS)) for _ in range(SERIES)]
            spread = pair_spread([(s, groups) for s in series])
            for ratios in series:
                base, head = [1.0] * TRIALS, [float(x) for x in np.exp(ratios)]
                floor = args.floor
                alone = compare_paired(
                    base, head, higher_is_worse=True, alpha=0.05, instance_floor=floor
                )
                pooled = compare_paired(
                    base, head, higher_is_worse=True, alpha=0.05, instance_floor=floor,
                    groups=groups, spread=spread,
                )  # fmt: skip
                plain += alone.p_worse < level
                grouped += pooled.p_worse < level
                total += 1
        a, b = plain / total, grouped / total
        print(f"| {pair_sd:.0%} | {a:.2%} ({a / level:.1f}x) | {b:.2%} ({b / level:.1f}x) |")


if __name__ == "__main__":
    main()
