"""How honest the gate's intervals are on innocent checks: the kept A/A (or A/A') rows of
`bench/power.py --keep DIR`, judged again with this tree's gate.

Every relative check of an innocent row (injected +0%) knows its estimate, its standard error
and its degrees of freedom (results.json `change`, `se`, `dof`). If the error model is right,
estimate / se follows its t distribution: the two-sided p-values are uniform, about 10% of them
fall below 0.10, 5% below 0.05, 1% below 0.01, and the 90% intervals hold no change 90% of the
time. Per folder this prints those shares, the mean and spread of z (the t statistic moved onto
the normal scale), a Kolmogorov-Smirnov test of the p-values against uniform, and the most
outside CPU any measured phase saw (a busy phase could hide a false fail, docs/evidence/
busy-machine.md). The checks of one A/B check share its instance pairs, so they are not
independent: the KS p-value is a guide, not a test to the letter.

    python bench/power.py --neutral-edit --modes ab --effects 0 --checks 40 --keep /tmp/aa
    python bench/calibration.py /tmp/aa
    python bench/calibration.py --app queries /tmp/q-aa
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

from scipy import stats

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

from bench.power import arguments, bench_config, kept_checks, kept_pairs, standardized  # noqa: E402
from perfgate.config import Config  # noqa: E402
from perfgate.core.check import evaluate  # noqa: E402
from perfgate.core.history import history_for_check  # noqa: E402
from perfgate.results import BaselineFile, ResultsFile, RunResult  # noqa: E402


@dataclass
class Innocent:
    """The relative checks of a folder's innocent checks, as z (normal scale) and p."""

    checks: int = 0
    z: list[float] = field(default_factory=list)
    p: list[float] = field(default_factory=list)
    covered: int = 0
    busiest: float = 0.0  # outside cores, the most any measured phase saw


def verdicts(folder: Path, config: Config) -> list[tuple[ResultsFile, list[RunResult]]]:
    """Each innocent check of `folder` judged again, with the runs it measured (for a stored
    check, its confirmation's too: its phases count for how busy the machine was)."""
    judged = []
    for row, base, head in kept_pairs(folder):
        if row.endswith("+0%"):
            judged.append((evaluate(config, head, base_run=base), [base, head]))
    for kept in kept_checks(folder):
        if not kept.row.endswith("+0%"):
            continue
        stored = history_for_check(BaselineFile(runs=kept.history), REPO)
        # The first measurement's estimates: the confirmation re-measures only what failed, so
        # judging with it would pick the second estimate for exactly the largest first ones.
        verdict = evaluate(config, kept.run, stored.baseline, notes=stored.notes)
        second = [kept.confirmation] if kept.confirmation else []
        judged.append((verdict, [kept.run, *second]))
    return judged


def collect(folder: Path, config: Config) -> Innocent:
    found = Innocent()
    for verdict, runs in verdicts(folder, config):
        found.checks += 1
        for run in runs:
            for phase in run.host_load.phases if run.host_load else []:
                found.busiest = max(found.busiest, phase.outside_cores)
        for check in verdict.checks:
            point = standardized(check) if check.kind == "relative" else None
            if point is None or check.ci_low is None or check.ci_high is None:
                continue
            found.z.append(point[0])
            found.p.append(point[1])
            found.covered += check.ci_low <= 0 <= check.ci_high
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="+", help="what bench/power.py --keep wrote")
    parser.add_argument("--app", default="softfactory", help="as the bench ran it")
    parser.add_argument("--tolerance", type=float, default=0.05, help="as the bench ran it")
    args = parser.parse_args()
    config = bench_config(arguments().parse_args(["--app", args.app, "--tolerance",
                                                  str(args.tolerance)]))  # fmt: skip
    print("| folder | checks | relative checks | z mean | z sd | 90% intervals holding 0 "
          "| p < 0.10 | p < 0.05 | p < 0.01 | KS D (p) | busiest phase |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for folder in args.folders:
        found = collect(folder, config)
        n = len(found.p)
        if n < 2:
            print(f"| {folder} | {found.checks} | {n} | - | - | - | - | - | - | - | - |")
            continue
        ks = stats.kstest(found.p, "uniform")
        shares = " | ".join(
            f"{sum(p < level for p in found.p) / n:.1%}" for level in (0.1, 0.05, 0.01)
        )
        print(
            f"| {folder} | {found.checks} | {n} | {statistics.fmean(found.z):+.2f} "
            f"| {statistics.stdev(found.z):.2f} | {found.covered / n:.0%} | {shares} "
            f"| {ks.statistic:.3f} ({ks.pvalue:.2g}) | {found.busiest:.2f} |"
        )


if __name__ == "__main__":
    main()
