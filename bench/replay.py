"""Judge kept stored-baseline checks again, to compare gate rules on the same measurements.

`bench/power.py --keep DIR` writes every baseline run and every stored check it measured (with
its confirmation run and the baseline runs it was judged against). This script judges each
check again with this tree's gate and prints, per row of the bench: the fails of the first
measurement and after the confirmation, how many blamed the slowed endpoint and how many
blamed another, and the spread of the changes the gate saw on the endpoints that were not
slowed (root mean square per metric, and the median half-width of their intervals). Measuring
a row takes 10-20 minutes; judging it again takes seconds, so rules are compared on the same
runs rather than on two noisy rows.

`--tails-by-median` judges with the earlier rule (every profile figure divided by the
reference's median; now p95s are divided by the reference's p95), for comparison.

`--divide instance` (or `trial`) first divides every trial figure by the reference workload of
the same app instance (or of the same trial), as sampled in that run, then judges as the gate
does: whether the reference of the same process cancels more than the run's reference does.

`--tracking` asks which fixed workload follows each endpoint best: per check, each series'
change of its median against the history (log of this run's geometric mean of trial medians
over that of the baseline runs), and per endpoint the spread over the checks of its change
less the change of the reference, of the app-like workload of `power.py
--probe-heavy-reference` if it was sampled, and of their mean. The smaller, the better that
divisor cancels the host.

    python bench/power.py --checks 40 --effects 0 --modes baseline --rolling 2 --keep /tmp/aa
    python bench/replay.py /tmp/aa
    python bench/replay.py /tmp/aa --tails-by-median
    python bench/replay.py /tmp/aa --divide instance
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

from bench.power import HEAVY_PROBE, arguments, bench_config, kept_checks  # noqa: E402
from perfgate.core.history import history_for_check  # noqa: E402
from perfgate.judge import gate, hostspeed  # noqa: E402
from perfgate.measure.profile import REFERENCE_NAME  # noqa: E402
from perfgate.results import BaselineFile, RunResult  # noqa: E402

HOST_SPEED = hostspeed.host_speed


def tails_by_median(run: RunResult, history: Sequence[RunResult]) -> hostspeed.HostSpeed | None:
    """The earlier rule: the reference's median divides the tails too."""
    host = HOST_SPEED(run, history)
    return host and hostspeed.HostSpeed(host.now, host.runs, host.now, host.runs)


def divided(run: RunResult, by: str) -> RunResult:
    """`run` with each endpoint's trial figures divided by the reference of the same instance
    (`by` "instance") or trial ("trial"), times the reference's level over the whole run, so
    that the gate's own division by the run's reference still applies on top."""
    reference = run.reference
    if reference is None or not reference.trial_instance:
        return run

    def level(values: Sequence[float]) -> float:
        return statistics.geometric_mean([v for v in values if v > 0])

    def scaled(
        figures: list[float], instances: list[int], of_reference: list[float]
    ) -> list[float]:
        whole = level(of_reference)
        if by == "trial" and len(figures) == len(of_reference):
            return [f * whole / r for f, r in zip(figures, of_reference, strict=True)]
        own = {
            i: level(
                [r for r, j in zip(of_reference, reference.trial_instance, strict=True) if j == i]
            )
            for i in set(reference.trial_instance)
        }
        return [f * whole / own.get(i, whole) for f, i in zip(figures, instances, strict=True)]

    endpoints = [
        p.model_copy(
            update={
                "trial_medians_ms": scaled(
                    p.trial_medians_ms, p.trial_instance, reference.trial_medians_ms
                ),
                "trial_p95_ms": scaled(p.trial_p95_ms, p.trial_instance, reference.trial_p95_ms),
            }
        )
        if len(p.trial_instance) == len(p.trial_medians_ms)
        else p
        for p in run.endpoints
    ]
    return run.model_copy(update={"endpoints": endpoints})


class Row:
    def __init__(self) -> None:
        self.checks = self.fails = self.first_fails = self.caught = self.misblamed = 0
        self.changes: dict[str, list[float]] = {"median": [], "p95": []}
        self.half_widths: dict[str, list[float]] = {"median": [], "p95": []}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="what bench/power.py --keep wrote")
    parser.add_argument("--app", default="softfactory", help="as the bench ran it")
    parser.add_argument("--endpoint", default=None, help="the endpoint the row slowed")
    parser.add_argument("--tolerance", type=float, default=0.05, help="as the bench ran it")
    parser.add_argument("--tails-by-median", action="store_true", help="the earlier rule")
    parser.add_argument("--tracking", action="store_true", help="which workload follows whom")
    parser.add_argument(
        "--divide", choices=("run", "instance", "trial"), default="run",
        help="divide by the reference of the run (the gate's rule), instance or trial",
    )  # fmt: skip
    args = parser.parse_args()
    if args.tails_by_median:
        # gate.judge looks host_speed up in its own module: replace it there.
        gate.host_speed = tails_by_median  # type: ignore[attr-defined]
    # The config the bench ran with: its defaults, with this row's endpoint and tolerance.
    bench = ["--app", args.app, "--tolerance", str(args.tolerance)]
    bench += ["--endpoint", args.endpoint] if args.endpoint else []
    bench_args = arguments().parse_args(bench)
    config = bench_config(bench_args)
    args.endpoint = bench_args.endpoint
    checks = kept_checks(args.folder, lambda run: divided(run, args.divide))
    if not checks:
        sys.exit(f"replay.py: no check-N.json in {args.folder} (write them with power.py --keep)")
    rows: dict[str, Row] = {}
    moves: dict[str, list[float]] = defaultdict(list)
    for kept in checks:
        run, second = kept.run, kept.confirmation
        # The segment the gate would use: the steps of the history cut it, as in a check.
        baseline = history_for_check(BaselineFile(runs=kept.history), REPO).baseline
        assert baseline is not None
        if args.tracking:
            for name, change in median_moves(run, baseline.runs).items():
                moves[name].append(change)
        first = gate.judge(config, run, baseline)
        final = gate.judge(config, run, baseline, confirmation=second) if second else first
        row = rows.setdefault(kept.row, Row())
        blamed = {c.endpoint for c in final.checks if c.kind == "relative" and c.status == "fail"}
        row.checks += 1
        row.fails += bool(blamed)
        row.first_fails += any(c.kind == "relative" and c.status == "fail" for c in first.checks)
        row.caught += args.endpoint in blamed
        row.misblamed += bool(blamed - {args.endpoint})
        for c in first.checks:
            innocent = c.kind == "relative" and c.phase == "profile" and c.endpoint != args.endpoint
            if innocent and c.change is not None and c.ci_low is not None and c.ci_high is not None:
                row.changes[c.metric].append(c.change)
                row.half_widths[c.metric].append((c.ci_high - c.ci_low) / 2)
    if args.tracking:
        print_tracking(moves)
        return
    rule = "tails by the reference's median" if args.tails_by_median else "this tree's gate"
    if args.divide != "run":
        rule += f", every trial first divided by the reference of its {args.divide}"
    print(f"{len(checks)} checks from {args.folder}, judged with {rule}")
    for name, row in rows.items():
        print(
            f"{name}: {row.checks} checks, {row.fails} fail ({row.first_fails} before the "
            f"confirmation), {row.caught} blamed {args.endpoint}, {row.misblamed} misblamed"
        )
        for metric, changes in row.changes.items():
            if changes:
                rms = math.sqrt(statistics.fmean(c * c for c in changes))
                width = statistics.median(row.half_widths[metric])
                print(
                    f"  other endpoints' {metric} changes: root mean square {rms:.2%}, largest "
                    f"{max(changes):+.1%}, median interval half-width {width:.1%}"
                )


def median_moves(run: RunResult, history: Sequence[RunResult]) -> dict[str, float]:
    """Each series' log change of its median level against the history (reference included)."""

    def levels(r: RunResult) -> dict[str, float]:
        profiles = [*r.endpoints, *([r.reference] if r.reference else [])]
        return {p.name: statistics.geometric_mean(p.trial_medians_ms) for p in profiles}

    now, before = levels(run), [levels(r) for r in history]
    return {
        name: math.log(value / statistics.geometric_mean([b[name] for b in before]))
        for name, value in now.items()
        if all(name in b for b in before)
    }


def print_tracking(moves: dict[str, list[float]]) -> None:
    reference = moves.pop(REFERENCE_NAME, [])
    heavy = moves.pop(HEAVY_PROBE, [])
    divisors = {"reference": reference}
    if heavy:
        divisors["app-like"] = heavy
        divisors["mean of both"] = [(a + b) / 2 for a, b in zip(reference, heavy, strict=True)]
    print(f"spread (sd) over {len(reference)} checks of each endpoint's median change, divided by:")
    print(f"{'endpoint':<24}{'undivided':>10}" + "".join(f"{d:>14}" for d in divisors))
    for name, changes in moves.items():
        cells = [statistics.stdev(changes)] + [
            statistics.stdev([c - d for c, d in zip(changes, div, strict=True)])
            for div in divisors.values()
        ]
        print(f"{name:<24}" + f"{cells[0]:>10.1%}" + "".join(f"{c:>14.1%}" for c in cells[1:]))


if __name__ == "__main__":
    main()
