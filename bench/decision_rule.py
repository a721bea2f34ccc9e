"""The fail rule's operating characteristic: how often a check fails, by true change.

A check fails when its estimate is significant at the first Holm step (one-sided, alpha / m)
AND beyond the tolerance. On the log scale, with standard error `se` and the check's t
distribution, the estimate must clear max(q(1 - alpha/m) * se, log(1 + tolerance)); this prints
P(fail) for a range of true changes, for the default tolerance and a tight one, at alpha 0.05
and 0.01, and the per-push false-alarm rate of m unchanged checks (at most m times the
per-check rate). Pure arithmetic, no app: it runs in a second.

  python bench/decision_rule.py                # se 1.7% (a default A/B median check), 30 trials
  python bench/decision_rule.py --se 0.01 --dof 29 --checks 13
"""

from __future__ import annotations

import argparse
import math

from scipy import stats


def p_fail(change: float, se: float, dof: float, level: float, tolerance: float) -> float:
    bar = max(float(stats.t(dof).ppf(1 - level)) * se, math.log1p(tolerance))
    return float(stats.t(dof).sf((bar - math.log1p(change)) / se))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--se", type=float, default=0.017, help="standard error, log scale")
    parser.add_argument("--dof", type=float, default=29)
    parser.add_argument("--checks", type=int, default=13, help="relative checks in the family")
    args = parser.parse_args()
    changes = [0.0, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.10, 0.12, 0.14]
    print(f"se {args.se:.1%}, {args.dof:g} dof, {args.checks} checks; P(fail) by true change")
    print(f"{'tolerance':>9} {'alpha':>6} " + " ".join(f"{c:>+6.0%}" for c in changes)
          + f" {'per push at 0':>14}")  # fmt: skip
    for tolerance in (0.10, 0.05):
        for alpha in (0.05, 0.01):
            level = alpha / args.checks
            row = [p_fail(c, args.se, args.dof, level, tolerance) for c in changes]
            push = 1 - (1 - row[0]) ** args.checks
            print(f"{tolerance:>9.0%} {alpha:>6.2f} " + " ".join(f"{p:>6.1%}" for p in row)
                  + f" {push:>14.2%}")  # fmt: skip


if __name__ == "__main__":
    main()
