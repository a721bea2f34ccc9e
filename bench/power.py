"""The gate's own evidence: false alarms and detection power, measured on the example app.

Against examples/softfactory (wrapped by bench/inject.py) it injects CPU work worth a
chosen fraction of one endpoint's median latency, and runs many checks in both modes:
  ab        same-run A/B: base (no injection) and head side by side, trials interleaved;
  baseline  stored baseline: a history of K runs of the base, then one run of the head
            (with --rolling N, a new base run replaces the oldest every N checks).
Only relative checks are judged. Effect 0 is the A/A case, where every fail is a false alarm; a
detection is a fail that blames the slowed endpoint; a check where another endpoint fails a
profile check counts as misblamed.
Prints rates with Wilson 95% intervals and the wall time per check. Every app is started fresh
per check and stopped afterwards.

With --app queries the same is done to a second, differently shaped app: a plain WSGI app on
SQLAlchemy Core and SQLite (tests/apps/queries_app.py: no Flask, no ORM, an N+1 endpoint).

With --neutral-edit the head runs from a copy of the app (and of the wrapper) whose every
module got a semantically neutral edit: an unused import, new module-level strings, a dead
function. Its A/A rows are then A/A': the same behaviour from different code, with the memory
layout and hash behaviour a real pull request changes. After the table, a calibration line over
every relative check of the A/A rows: how often its 90% interval covered no change (85-95% is
calibrated) and how often the estimate was beyond its t distribution's two-sided 1% (1% expected);
bench/calibration.py says more of the same kept runs.

  python bench/power.py --quick                 # a few checks, proves it works (minutes)
  python bench/power.py --checks 40             # the full table (hours on a 2-core machine)
  python bench/power.py --time-default          # wall time of one default check of the example
  python bench/power.py --neutral-edit --effects 0,10 --checks 40   # A/A' and +10% rows
  python bench/power.py --app queries --neutral-edit --effects 0 --checks 40   # second app
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests
from scipy import stats

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

from bench.inject import HEAVY_REFERENCE_PATH, SPEED_LOOPS, SPEED_PATH  # noqa: E402
from perfgate.config import AppConfig, Budget, Budgets, Config, Endpoint, load_config  # noqa: E402
from perfgate.console import Console  # noqa: E402
from perfgate.core.check import evaluate, measure_ab, measure_stored  # noqa: E402
from perfgate.core.history import history_for_check  # noqa: E402
from perfgate.layout import Layout  # noqa: E402
from perfgate.measure.session import Side  # noqa: E402
from perfgate.results import BaselineFile, Check, EndpointProfile, ResultsFile, RunResult  # noqa: E402
from perfgate.run.server import running_app  # noqa: E402

TARGET = "bench.inject:create_app()"


@dataclass(frozen=True)
class BenchApp:
    """An app the bench wraps (bench/inject.py): its factory, the endpoint slowed unless
    --endpoint says otherwise, the files a neutral edit copies (relative to the checkout), and
    its endpoints and environment where thresholds.yaml's are not its own."""

    factory: str
    slowed: str
    files: tuple[str, ...]
    endpoints: tuple[Endpoint, ...] = ()
    env: tuple[tuple[str, str], ...] = ()


APPS = {
    "softfactory": BenchApp("examples.softfactory.app:create_app", "products", ("examples",)),
    "queries": BenchApp(
        "tests.apps.queries_app:create_app",
        "n-plus-one",
        ("tests/__init__.py", "tests/apps/__init__.py", "tests/apps/queries_app.py"),
        endpoints=tuple(
            Endpoint(name=name, path=f"/{name}")
            for name in ("health", "one", "three", "n-plus-one")
        ),
        env=(("QUERIES_APP_DB", ".perfgate/queries.db"),),
    ),
}
# With --probe-heavy-reference, the app-like fixed workload sampled as one more endpoint.
HEAVY_PROBE = "(heavy reference)"
# The checks measure as `perfgate check` does, through perfgate.core, without its progress lines.
QUIET = Console(err=open(os.devnull, "w"))  # noqa: SIM115 (open for the whole bench)


def sides(base: AppConfig, head: AppConfig, head_folder: Path = REPO) -> tuple[Side, Side]:
    """Base and head of an A/B check: this checkout and `head_folder` (this checkout too, or
    its neutrally edited copy), each with its own app settings."""
    return Side("base", REPO, base), Side("head", head_folder, head)


def neutral_tree(scratch: Path, app: BenchApp) -> Path:
    """A copy of the app, its wrapper and the config in which every module got a neutral edit
    (neutral_edit): the head of an A/A' row."""
    tree = scratch / "neutral-edit"
    skip = shutil.ignore_patterns("__pycache__", "*.db", ".perfgate")
    edited = [tree / "bench" / "inject.py"]
    shutil.copytree(REPO / "bench", tree / "bench", ignore=skip, dirs_exist_ok=True)
    shutil.copy(REPO / "thresholds.yaml", tree / "thresholds.yaml")
    for part in app.files:
        if (REPO / part).is_dir():
            shutil.copytree(REPO / part, tree / part, ignore=skip, dirs_exist_ok=True)
            edited += sorted((tree / part).rglob("*.py"))
        else:
            (tree / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / part, tree / part)
            edited.append(tree / part)
    (tree / ".perfgate").mkdir(exist_ok=True)  # where the apps keep their SQLite files
    for path in edited:
        if path.read_text().strip():  # an empty __init__.py stays empty, as in a real tree
            path.write_text(neutral_edit(path.read_text(), path.stem))
    return tree


def neutral_edit(source: str, name: str) -> str:
    """The same behaviour from different code: an unused import after the future import, and
    new module-level strings and a function nothing calls at the end."""
    lines = source.splitlines(keepends=True)
    at = next((i + 1 for i, line in enumerate(lines) if line.startswith("from __future__")), 0)
    lines.insert(at, "import textwrap as _neutral_textwrap  # noqa: F401 (a neutral edit)\n")
    note = "a neutral edit: new module-level strings and code that nothing calls. " * 3
    tail = (
        f"\n\n_NEUTRAL_NOTES = {{{name!r}: {note!r}, 'version': '2026-12-02'}}\n\n\n"
        "def _neutral_unused(values: list[int]) -> int:\n"
        "    total = 0\n"
        "    for value in values:\n"
        "        total += value * 2\n"
        "    return total\n"
    )
    return "".join(lines) + tail


def stored_run(config: Config, scratch: Path) -> RunResult:
    """One stored-mode run, as `perfgate baseline` measures it."""
    return measure_stored(config, None, Layout(scratch), QUIET)[0]


@dataclass
class Cell:
    mode: str
    effect: float
    checks: int = 0
    fails: int = 0
    detected: int = 0
    misblamed: int = 0
    inconclusive: int = 0
    seconds: float = 0.0
    observed: float = 0.0  # sum of the estimated median change of the slowed endpoint
    # The MDE its median check reported (the rule's own 80% point), per check: the table shows
    # the median, since a history cut short by a step gives a few checks a huge one.
    mde: list[float] = field(default_factory=list)
    innocent: int = 0  # A/A rows: relative checks with an interval
    covered: int = 0  # ... whose 90% interval held no change
    far: int = 0  # ... whose estimate was beyond its t distribution's two-sided 1% (p < 0.01)


def wilson(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def bench_config(args: argparse.Namespace) -> Config:
    config = load_config(REPO / "thresholds.yaml")
    bench_app = APPS[args.app]
    endpoints = list(bench_app.endpoints or config.endpoints)
    args.endpoint = args.endpoint or bench_app.slowed
    names = [e.name for e in endpoints]
    if args.endpoint not in names:
        sys.exit(f"power.py: --endpoint {args.endpoint!r} is not one of {', '.join(names)}")
    # Only the relative (statistical) checks: absolute limits and exact statement counts are
    # not what this bench measures, and a busy machine would trip the absolute ones.
    budgets = Budgets(default=Budget(regression=args.tolerance, query_growth=None))
    # The profile settings of thresholds.yaml unless overridden: the bench measures the gate as
    # the example runs it.
    sizes = {"samples": args.samples, "trials": args.trials}
    profile = config.profile.model_copy(update={k: v for k, v in sizes.items() if v})
    load = config.load.model_copy(update={"enabled": args.with_load})
    env = dict(bench_app.env) if bench_app.env else config.app.env
    env = {**env, "PERFGATE_INJECT_APP": bench_app.factory}
    app = config.app.model_copy(update={"target": TARGET, "env": env})
    chosen = {
        "ab_floor": args.ab_floor,
        "reference_floor": args.reference_floor,
        "ab_instances": args.ab_instances,
        "confirm": False if args.no_confirm else None,
    }
    compare = config.compare.model_copy(update={k: v for k, v in chosen.items() if v is not None})
    if args.probe_heavy_reference:
        probe = Endpoint(name=HEAVY_PROBE, path=HEAVY_REFERENCE_PATH)
        endpoints = [*endpoints, probe]
    parts = {
        "app": app, "budgets": budgets, "profile": profile, "load": load, "compare": compare,
        "endpoints": endpoints,
    }  # fmt: skip
    return config.model_copy(update=parts)


def injected(config: Config, path: str, loops: int) -> AppConfig:
    # Fixed width: both sides' environments have the same size (a different size shifts the
    # stack's alignment, one of the "nothing changed but it got slower" effects of a process).
    env = {**config.app.env, "PERFGATE_INJECT_PATH": path, "PERFGATE_INJECT_LOOPS": f"{loops:09d}"}
    return config.app.model_copy(update={"env": env})


def loops_for(effect: float, median_ms: float, loops_per_ms: float) -> int:
    """Iterations of busy work worth `effect` of the endpoint's median, at the host's pace now."""
    return round(effect * median_ms * loops_per_ms)


def worker_loops_per_ms(config: Config, scratch: Path) -> float:
    """How many iterations of the injected work an app worker runs per millisecond (median of
    21 timings inside requests, on a fresh app)."""
    with running_app(config.app, REPO, scratch / "speed") as app:
        timings = [
            float(requests.get(app.base_url + SPEED_PATH, timeout=30).text) for _ in range(21)
        ]
    return SPEED_LOOPS / statistics.median(timings)


def profile_only(config: Config, **profile: int) -> Config:
    """The config with the load phase off (and profile settings overridden, if given)."""
    return config.model_copy(
        update={
            "profile": config.profile.model_copy(update=profile),
            "load": config.load.model_copy(update={"enabled": False}),
        }
    )


def endpoint_of(run: RunResult, name: str) -> EndpointProfile:
    return next(p for p in run.endpoints if p.name == name)


def median_ms(config: Config, name: str, scratch: Path, mode: str = "ab") -> float:
    """The endpoint's median as a check of `mode` sees it: in A/B mode all endpoints and two
    sides of apps, against a stored baseline one app and the reference workload.

    An endpoint probed alone answers faster than inside an A/B check (where its requests
    alternate with other endpoints' and other apps'): sizing the work from a lone probe made an
    injected +10% show as about +5% in A/B checks."""
    probe = profile_only(config, samples=200, trials=10)
    if mode == "ab":
        base_run, _ = measure_ab(
            probe, *sides(probe.app, probe.app), Layout(scratch / "probe"), QUIET, 0
        )
    else:
        base_run = stored_run(probe, scratch / "probe")
    profile = endpoint_of(base_run, name)
    assert profile.latency_ms is not None
    return profile.latency_ms.median


def paired_change(config: Config, name: str, loops: int, scratch: Path, probes: int = 2) -> float:
    """The change `loops` iterations make to the endpoint's median in A/B checks: the geometric
    mean over `probes` A/B measurements (profile only, the bench's settings) of the per-trial
    ratios head / base."""
    probe = profile_only(config)
    path = next(e.path for e in config.endpoints if e.name == name)
    head = injected(config, path, loops)
    logs = []
    for seed in range(probes):
        runs = measure_ab(
            probe, *sides(probe.app, head), Layout(scratch / "calibrate"), QUIET, seed + 100
        )
        base, now = (endpoint_of(run, name) for run in runs)
        pairs = zip(base.trial_medians_ms, now.trial_medians_ms, strict=True)
        logs += [math.log(h / b) for b, h in pairs]
    return math.exp(statistics.fmean(logs)) - 1


def standardized(check: Check) -> tuple[float, float] | None:
    """(z on the normal scale, two-sided p) of a relative check with an estimate and an se."""
    if check.change is None or not check.se:
        return None
    t = math.log1p(check.change) / check.se
    dof = check.dof if check.dof is not None else math.inf
    p = float(2 * stats.t.sf(abs(t), dof))
    z = math.copysign(float(stats.norm.isf(p / 2)), t) if p > 0 else math.copysign(40.0, t)
    return z, p


def score(cell: Cell, verdict: ResultsFile, endpoint: str, seconds: float) -> str:
    """Count one check; return what failed, for the log."""
    cell.checks += 1
    cell.seconds += seconds
    relative = [c for c in verdict.checks if c.kind == "relative"]
    failed = [c for c in relative if c.status == "fail"]
    blamed = {c.endpoint for c in failed if c.phase == "profile"}
    cell.fails += bool(failed)
    cell.inconclusive += not failed and any(c.status == "inconclusive" for c in relative)
    cell.detected += endpoint in blamed
    cell.misblamed += bool(blamed - {endpoint})
    own = [c for c in relative if c.endpoint == endpoint and c.metric == "median" and c.change]
    cell.observed += own[0].change if own and own[0].change is not None else 0.0
    if own and own[0].mde is not None:
        cell.mde.append(own[0].mde)
    if cell.effect == 0:
        for c in relative:
            if c.change is None or c.ci_low is None or c.ci_high is None or c.ci_high <= c.ci_low:
                continue
            cell.innocent += 1
            cell.covered += c.ci_low <= 0 <= c.ci_high
            point = standardized(c)
            cell.far += point is not None and point[1] < 0.01
    said = ", ".join(f"{c.endpoint} {c.metric} {c.change:+.0%}" for c in failed if c.change)
    # Stored mode: fails of the first measurement that the second one did not reproduce.
    dropped = [c for c in relative if c.confirmation is not None and c.status != "fail"]
    if dropped:
        said += (
            " (not reproduced: "
            + ", ".join(
                f"{c.endpoint} {c.metric} {c.change:+.0%} then {c.confirmation:+.0%}"
                for c in dropped
            )
            + ")"
        )
    if own and own[0].ci_low is not None and own[0].ci_high is not None:
        # The slowed endpoint's own estimate, whatever the verdict: how close each check came.
        o = own[0]
        said += f" [{endpoint} median {o.change:+.1%} ({o.ci_low:+.1%} to {o.ci_high:+.1%}), "
        said += f"p {o.p_value:.2g}]"
    return said


def run_ab(
    config: Config, head: AppConfig, scratch: Path, seed: int, head_folder: Path, keep: Keeper
) -> tuple[ResultsFile, float]:
    start = time.monotonic()
    pair = sides(config.app, head, head_folder)
    base_run, head_run = measure_ab(config, *pair, Layout(scratch), QUIET, seed)
    keep.pair(base_run, head_run)
    return evaluate(config, head_run, base_run=base_run), time.monotonic() - start


def run_stored(
    config: Config,
    head: AppConfig,
    history: list[RunResult],
    scratch: Path,
    keep: Keeper,
    head_folder: Path = REPO,
) -> tuple[ResultsFile, float]:
    """As `perfgate check` does it: measure, and measure again what fails (perfgate.core)."""
    start = time.monotonic()
    source = head_folder / config.source.resolve().relative_to(REPO)
    head_config = config.model_copy(update={"app": head, "source": source})
    # The segment a check would use (perfgate.core.history): a step wrongly found in a history
    # of unchanged code would shorten it, and that is part of what the bench measures.
    stored = history_for_check(BaselineFile(runs=history), config.folder)
    run, second = measure_stored(head_config, stored.baseline, Layout(scratch), QUIET)
    verdict = evaluate(config, run, stored.baseline, confirmation=second, notes=stored.notes)
    keep.check(run, second, history)
    return verdict, time.monotonic() - start


class Keeper:
    """With --keep DIR, every stored-mode run as JSON, so that other gate rules can be replayed
    on the same measurements (bench/replay.py): baseline runs as `base-N.json` in the order
    measured, each check as `check-N.json` with its run, its confirmation, and the baseline
    runs it was judged against."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.names: dict[int, str] = {}  # id() of a kept baseline run -> its file name
        self.checks = 0
        self.row = ""  # the row being measured, e.g. "baseline +20%"
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

    def baseline(self, run: RunResult) -> RunResult:
        if self.folder is not None:
            name = f"base-{len(self.names) + 1}.json"
            (self.folder / name).write_text(run.model_dump_json())
            self.names[id(run)] = name
        return run

    def check(self, run: RunResult, second: RunResult | None, history: list[RunResult]) -> None:
        if self.folder is None:
            return
        self.checks += 1
        record = {
            "row": self.row,
            "run": run.model_dump(mode="json"),
            "confirmation": second.model_dump(mode="json") if second else None,
            "history": [self.names[id(r)] for r in history],
        }
        (self.folder / f"check-{self.checks}.json").write_text(json.dumps(record))

    def pair(self, base: RunResult, head: RunResult) -> None:
        """An A/B check's two runs, as `ab-N.json`: they can be judged again by other rules."""
        if self.folder is None:
            return
        self.checks += 1
        record = {"row": self.row, "base": base.model_dump(mode="json"),
                  "head": head.model_dump(mode="json")}  # fmt: skip
        (self.folder / f"ab-{self.checks}.json").write_text(json.dumps(record))


@dataclass(frozen=True)
class KeptCheck:
    """One stored-mode check as Keeper wrote it: its row, run, confirmation and baseline runs."""

    row: str
    run: RunResult
    confirmation: RunResult | None
    history: list[RunResult]


def kept_checks(
    folder: Path, adjust: Callable[[RunResult], RunResult] = lambda run: run
) -> list[KeptCheck]:
    """The check-N.json of a --keep folder in the order measured, every run passed through
    `adjust`; a baseline run shared by many checks is read (and adjusted) once."""
    runs: dict[str, RunResult] = {}

    def baseline(name: str) -> RunResult:
        if name not in runs:
            runs[name] = adjust(RunResult.model_validate_json((folder / name).read_text()))
        return runs[name]

    found = []
    for path in sorted(folder.glob("check-*.json"), key=kept_number):
        kept = json.loads(path.read_text())
        second = kept["confirmation"]
        found.append(
            KeptCheck(
                kept["row"],
                adjust(RunResult.model_validate(kept["run"])),
                adjust(RunResult.model_validate(second)) if second else None,
                [baseline(name) for name in kept["history"]],
            )
        )
    return found


def kept_pairs(folder: Path) -> list[tuple[str, RunResult, RunResult]]:
    """The ab-N.json of a --keep folder in the order measured: (row, base run, head run)."""
    found = []
    for path in sorted(folder.glob("ab-*.json"), key=kept_number):
        kept = json.loads(path.read_text())
        base, head = (RunResult.model_validate(kept[side]) for side in ("base", "head"))
        found.append((kept["row"], base, head))
    return found


def kept_baseline_runs(folder: Path) -> list[RunResult]:
    """The base-N.json of a --keep folder in the order recorded."""
    paths = sorted(folder.glob("base-*.json"), key=kept_number)
    return [RunResult.model_validate_json(p.read_text()) for p in paths]


def kept_number(path: Path) -> int:
    """N of base-N.json, check-N.json or ab-N.json."""
    return int(path.stem.split("-")[1])


def print_table(cells: list[Cell], endpoint: str, tolerance: float) -> None:
    print(f"\nRegressed endpoint: {endpoint}; tolerance {tolerance:.0%}.")
    print("| mode | injected | observed median change | checks | fail rate (Wilson 95%) "
          "| blamed right | misblamed | inconclusive | median MDE | s/check |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for c in cells:
        rate = c.detected if c.effect else c.fails
        low, high = wilson(rate, c.checks)
        label = "A/A (false alarm)" if c.effect == 0 else f"+{c.effect:.0%}"
        print(
            f"| {c.mode} | {label} | {c.observed / c.checks:+.0%} | {c.checks} "
            f"| {rate}/{c.checks} = {rate / c.checks:.0%} "
            f"({low:.0%}-{high:.0%}) | {c.detected} | {c.misblamed} | {c.inconclusive} "
            f"| {f'{statistics.median(c.mde):.1%}' if c.mde else '-'} "
            f"| {c.seconds / c.checks:.1f} |"
        )
    for c in cells:
        if c.innocent:
            print(
                f"Calibration, {c.mode} A/A: {c.innocent} relative checks; 90% intervals "
                f"covered no change in {c.covered / c.innocent:.0%} (85-95% is calibrated); "
                f"estimates with a two-sided p below 0.01: {c.far / c.innocent:.1%} (1% expected)."
            )


def time_default(scratch: Path) -> None:
    config = load_config(REPO / "thresholds.yaml")
    start = time.monotonic()
    measure_ab(config, *sides(config.app, config.app), Layout(scratch / "default"), QUIET, 1)
    ab = time.monotonic() - start
    start = time.monotonic()
    stored_run(config, scratch / "default-stored")
    stored = time.monotonic() - start
    print(f"Default check of the example (all endpoints, profile + load): A/B {ab:.1f} s "
          f"(target <= 90 s), stored-baseline {stored:.1f} s.")  # fmt: skip


def arguments() -> argparse.ArgumentParser:
    """The bench's options (bench/replay.py builds the same config from their defaults)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=40, help="checks per mode and effect")
    parser.add_argument("--effects", default="0,5,10,20,40", help="injected %%, 0 = A/A")
    parser.add_argument("--modes", default="ab,baseline")
    parser.add_argument("--app", choices=sorted(APPS), default="softfactory", help="app to wrap")
    parser.add_argument(
        "--endpoint", default=None, help="endpoint to slow down (default: products, n-plus-one)"
    )
    parser.add_argument("--tolerance", type=float, default=0.05, help="regression tolerance")
    parser.add_argument("--samples", type=int, default=None, help="default: thresholds.yaml")
    parser.add_argument("--trials", type=int, default=None, help="default: thresholds.yaml")
    parser.add_argument(
        "--history", type=int, default=10, help="baseline runs (stored mode; a baseline keeps 10)"
    )
    parser.add_argument(
        "--rolling",
        type=int,
        default=0,
        help="stored mode: record a new baseline run every N checks, dropping the oldest",
    )
    parser.add_argument(
        "--ab-floor", type=float, default=None, help="compare.ab_floor (0 = trust the pairing)"
    )
    parser.add_argument(
        "--reference-floor", type=float, default=None, help="compare.reference_floor"
    )
    parser.add_argument("--ab-instances", type=int, default=None, help="compare.ab_instances")
    parser.add_argument(
        "--no-confirm", action="store_true", help="stored mode: compare.confirm off"
    )
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help="A/B rows: correct the injected work by paired probes (2 A/B runs per row)",
    )
    parser.add_argument("--with-load", action="store_true", help="include the load phase")
    parser.add_argument(
        "--probe-heavy-reference",
        action="store_true",
        help="also sample an app-like fixed workload as an endpoint (for replay.py --tracking)",
    )
    parser.add_argument(
        "--keep", type=Path, default=None, help="write every run (both modes) to this folder"
    )
    parser.add_argument(
        "--neutral-edit",
        action="store_true",
        help="the head runs from a copy whose modules got semantically neutral edits (A/A')",
    )
    parser.add_argument("--quick", action="store_true", help="2 checks at 0, +10%%, +40%%")
    parser.add_argument(
        "--time-default", action="store_true", help="only time one default check of the example"
    )
    return parser


def main() -> None:
    args = arguments().parse_args()
    if args.quick:
        args.checks, args.effects, args.history = 2, "0,10,40", 3
    effects = [float(e) / 100 for e in args.effects.split(",")]
    modes = args.modes.split(",")
    config = bench_config(args)
    endpoint = next(e for e in config.endpoints if e.name == args.endpoint)

    with tempfile.TemporaryDirectory(prefix="perfgate-power-") as tmp:
        scratch = Path(tmp)
        if args.time_default:
            time_default(scratch)
            return
        # Both sides run the wrapper; the base injects nothing.
        config = config.model_copy(update={"app": injected(config, endpoint.path, 0)})
        c = config.compare
        print(f"profile {config.profile.samples} samples in {config.profile.trials} trials; "
              f"ab_instances {c.ab_instances}, ab_floor {c.ab_floor}, reference "
              f"{'on' if c.reference else 'off'} (floor {c.reference_floor}); "
              f"confirmation {'on' if c.confirm else 'off'}; stored history {args.history} runs"
              f"{f', one new every {args.rolling} checks' if args.rolling else ''}")  # fmt: skip
        keep = Keeper(args.keep)
        (REPO / ".perfgate").mkdir(exist_ok=True)  # where the apps keep their SQLite files
        head_folder = neutral_tree(scratch, APPS[args.app]) if args.neutral_edit else REPO
        history: list[RunResult] = []
        if "baseline" in modes:
            for _ in range(args.history):
                history.append(keep.baseline(stored_run(config, scratch)))
        cells = []
        for mode in modes:
            for effect in effects:
                cell = Cell(mode, effect)
                keep.row = f"{mode} +{effect:.0%}"
                # Sized once per row: the work is iterations, which a slower host state slows
                # as much as the endpoint's own work, so "+10%" stays 10% as the host drifts.
                loops = 0
                if effect:
                    base_ms = median_ms(config, endpoint.name, scratch, mode)
                    pace = worker_loops_per_ms(config, scratch)
                    loops = loops_for(effect, base_ms, pace)
                    print(f"  {mode} +{effect:.0%}: {endpoint.name} median {base_ms:.2f} ms, "
                          f"{pace:.0f} iterations/ms in a worker: {loops} iterations",
                          flush=True)  # fmt: skip
                    if mode == "ab" and args.calibrate:
                        # One correction step, from paired probes apart from the checks: the
                        # work's share of the median as A/B checks see it is what "+10%" means.
                        seen = paired_change(config, endpoint.name, loops, scratch)
                        factor = min(2.0, max(0.5, effect / seen)) if seen > 0 else 2.0
                        print(f"    paired probes: {loops} iterations made {seen:+.1%}; "
                              f"injecting {round(loops * factor)}", flush=True)  # fmt: skip
                        loops = round(loops * factor)
                for i in range(args.checks):
                    head = injected(config, endpoint.path, loops)
                    if mode == "ab":
                        verdict, seconds = run_ab(
                            config, head, scratch / "ab", i, head_folder, keep
                        )
                    else:
                        if args.rolling and i and i % args.rolling == 0:
                            # As on a real main branch: a new baseline run between checks, the
                            # oldest one dropped, so the history spans the checks' own time.
                            history = [*history[1:], keep.baseline(stored_run(config, scratch))]
                        verdict, seconds = run_stored(
                            config, head, history, scratch / "st", keep, head_folder
                        )
                    failed = score(cell, verdict, endpoint.name, seconds)
                    print(f"  {mode} +{effect:.0%} #{i + 1}: {verdict.verdict} ({seconds:.1f} s)"
                          f"  {failed}", flush=True)  # fmt: skip
                cells.append(cell)
        print_table(cells, endpoint.name, args.tolerance)


if __name__ == "__main__":
    main()
