"""The command line: a thin shell over the stages. The only place that prints a verdict or exits.

`main(argv)` returns an exit status; errors from any stage become one line on stderr (with
`--traceback` for the whole story).
"""

from __future__ import annotations

import argparse
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

from perfgate import __version__
from perfgate.abtest import measure_pair
from perfgate.action import run_action
from perfgate.calibrate import noise_table, render_noise
from perfgate.charts import baseline_points
from perfgate.comment import run_comment
from perfgate.config import DEFAULT_CONFIG, Config, load_config
from perfgate.diagnose import diagnose
from perfgate.errors import ExitStatus, Interrupted, MeasurementError, PerfgateError
from perfgate.gate import judge
from perfgate.html_report import render_html
from perfgate.loadcli import add_parser as add_load_parser
from perfgate.measure import measure
from perfgate.report import render_markdown, verdict_line
from perfgate.results import (
    BaselineFile,
    ResultsFile,
    RunResult,
    append_to_baseline,
    load_baseline,
    load_results,
    save,
    write_atomic,
)
from perfgate.worktree import base_tree

DEFAULT_OUT = Path(".perfgate")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="perfgate", description="A performance gate for pull requests of HTTP services."
    )
    parser.add_argument("--version", action="version", version=f"perfgate {__version__}")
    parser.add_argument("--traceback", action="store_true", help="show the full error trace")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "-c",
            "--config",
            type=Path,
            default=Path(DEFAULT_CONFIG),
            help="thresholds file (default: ./thresholds.yaml)",
        )
        p.add_argument(
            "--baseline",
            type=Path,
            default=None,
            help="baseline file (default: .perfgate/baseline.json beside the config)",
        )

    check = sub.add_parser("check", help="measure, compare with the baseline, report, exit")
    with_config(check)
    check.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="folder for results.json and report.md (default: .perfgate/)",
    )
    check.add_argument(
        "--against",
        metavar="REF",
        default=None,
        help="same-run A/B: measure git REF side by side with this tree "
        "(recommended for pull requests) instead of using the stored baseline",
    )
    check.add_argument(
        "--seed", type=int, default=None, help="seed of the A/B interleaving (default: random)"
    )
    check.set_defaults(handler=cmd_check)

    calibrate = sub.add_parser("calibrate", help="A/A: measure the noise, suggest tolerances")
    calibrate.add_argument("-c", "--config", type=Path, default=Path(DEFAULT_CONFIG))
    calibrate.add_argument("--out", type=Path, default=DEFAULT_OUT)
    calibrate.add_argument("--seed", type=int, default=None)
    calibrate.set_defaults(handler=cmd_calibrate)

    baseline = sub.add_parser("baseline", help="measure and add the run to the baseline history")
    with_config(baseline)
    baseline.add_argument("--out", type=Path, default=DEFAULT_OUT)
    baseline.add_argument(
        "--replace", action="store_true", help="start a new history instead of adding to it"
    )
    baseline.set_defaults(handler=cmd_baseline)

    compare = sub.add_parser("compare", help="judge a results file against a baseline file")
    compare.add_argument("baseline_file", type=Path, metavar="BASELINE")
    compare.add_argument("results_file", type=Path, metavar="RESULTS")
    compare.add_argument("-c", "--config", type=Path, default=Path(DEFAULT_CONFIG))
    compare.add_argument("--out", type=Path, default=DEFAULT_OUT)
    compare.set_defaults(handler=cmd_compare)

    report = sub.add_parser("report", help="render a results file")
    report.add_argument("results_file", type=Path, metavar="RESULTS")
    report.add_argument("--format", choices=["md", "html", "json"], default="md")
    report.set_defaults(handler=cmd_report)

    action = sub.add_parser("action", help="run as a GitHub Action step (INPUT_* and GITHUB_*)")
    action.set_defaults(handler=lambda args: run_action())

    comment = sub.add_parser("comment", help="post a report.md as the sticky PR comment")
    comment.add_argument("--report", type=Path, required=True, help="the report.md to post")
    comment.add_argument("--pr", type=int, required=True, help="pull request number")
    comment.add_argument("--repo", help="owner/name (default: $GITHUB_REPOSITORY)")
    comment.add_argument("--key", default="perfgate", help="names the comment to keep updating")
    comment.add_argument("--token-env", default="GITHUB_TOKEN", help="variable holding the token")
    comment.add_argument("--expect-head-sha", help="post only if the PR head is this commit")
    comment.add_argument("--run-url", help="link to the run that measured (default: this run)")
    comment.set_defaults(handler=lambda a: run_comment(
        a.report, a.pr, repo=a.repo, key=a.key, token_env=a.token_env,
        expect_head_sha=a.expect_head_sha, run_link=a.run_url))  # fmt: skip

    add_load_parser(sub)
    return parser


def baseline_path(args: argparse.Namespace, config: Config) -> Path:
    return args.baseline or config.folder / ".perfgate" / "baseline.json"


def exit_status_for(results: ResultsFile, config: Config) -> ExitStatus:
    if results.verdict == "fail":
        return ExitStatus.GATE_FAILED
    if results.verdict == "inconclusive" and config.compare.strict:
        return ExitStatus.GATE_FAILED
    return ExitStatus.OK


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".perfgate-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise PerfgateError(
            f"{folder}: output folder is not writable ({exc.strerror})",
            "choose another folder with --out",
        ) from None


def judge_and_write(
    config: Config,
    run: RunResult,
    baseline: BaselineFile | None,
    out: Path,
    base_run: RunResult | None = None,
    against: str | None = None,
) -> ExitStatus:
    verdict = judge(config, run, baseline, base_run)
    results = ResultsFile(
        verdict=verdict.verdict,
        checks=verdict.checks,
        notes=verdict.notes,
        baseline_runs=verdict.baseline_runs,
        run=run,
        findings=diagnose(run),
        baseline_load=baseline_points(
            [base_run] if base_run else baseline.runs if baseline else []
        ),
        mode="ab" if base_run else "baseline",
        against=against,
        base_run=base_run,
    )
    save(out / "results.json", results)
    write_atomic(out / "report.md", render_markdown(results))
    write_atomic(out / "report.html", render_html(results))
    print(verdict_line(results).removeprefix("## "))
    for c in results.checks:
        if c.status in ("fail", "inconclusive"):
            print(f"  {c.status:<12} {c.endpoint} {c.phase} {c.metric}: {c.message}")
    for f in results.findings:
        if f.severity in ("CRITICAL", "HIGH"):
            print(f"  finding      {f.severity} {f.endpoint} {f.kind}: {f.title}")
    print(f"Report: {out / 'report.md'} (and report.html)  Results: {out / 'results.json'}")
    return exit_status_for(results, config)


def cmd_check(args: argparse.Namespace) -> ExitStatus:
    config = load_config(args.config)
    if args.against:
        _check_writable(args.out)
        with base_tree(args.against, config.folder) as tree:
            print(f"A/B: base {args.against} ({tree.commit[:12]}) side by side with this tree")
            base_run, run = measure_pair(config, tree.folder, config.folder, args.out, args.seed)
        against = f"{args.against} ({tree.commit[:12]})"
        return judge_and_write(config, run, None, args.out, base_run, against)
    path = baseline_path(args, config)
    baseline = load_baseline(path) if path.exists() else None
    _check_writable(args.out)
    run = measure(config, args.out)
    return judge_and_write(config, run, baseline, args.out)


def cmd_baseline(args: argparse.Namespace) -> ExitStatus:
    config = load_config(args.config)
    path = baseline_path(args, config)
    if path.exists() and not args.replace:
        load_baseline(path)  # refuse to append to a damaged file before spending minutes measuring
    _check_writable(args.out)
    _check_writable(path.parent)
    run = measure(config, args.out)
    if args.replace:
        path.unlink(missing_ok=True)
    baseline = append_to_baseline(path, run)
    print(f"Baseline: {path} now holds {len(baseline.runs)} run(s).")
    return ExitStatus.OK


def cmd_compare(args: argparse.Namespace) -> ExitStatus:
    config = load_config(args.config)
    baseline = load_baseline(args.baseline_file)
    run = load_results(args.results_file).run
    _check_writable(args.out)
    return judge_and_write(config, run, baseline, args.out)


def cmd_calibrate(args: argparse.Namespace) -> ExitStatus:
    config = load_config(args.config)
    _check_writable(args.out)
    print("A/A: two instances of this tree side by side, trials interleaved ...")
    first, second = measure_pair(config, config.folder, config.folder, args.out, args.seed)
    print(render_noise(noise_table(config, first, second)))
    return ExitStatus.OK


def cmd_report(args: argparse.Namespace) -> ExitStatus:
    results = load_results(args.results_file)
    if args.format == "json":
        print(results.model_dump_json(indent=2))
    elif args.format == "html":
        print(render_html(results), end="")
    else:
        print(render_markdown(results), end="")
    return ExitStatus.OK


def _raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Interrupted("stopped by SIGTERM")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], ExitStatus] = args.handler
    previous = signal.getsignal(signal.SIGTERM)
    in_main_thread = _in_main_thread()
    if in_main_thread:
        signal.signal(signal.SIGTERM, _raise_on_sigterm)
    try:
        return int(handler(args))
    except KeyboardInterrupt:
        print("perfgate: interrupted; every process it started was stopped", file=sys.stderr)
        return int(ExitStatus.INTERRUPTED)
    except Interrupted as exc:
        print(f"perfgate: {exc}; every process it started was stopped", file=sys.stderr)
        return int(ExitStatus.TERMINATED)
    except PerfgateError as exc:
        if args.traceback:
            traceback.print_exc()
        print(f"perfgate: error: {exc}", file=sys.stderr)
        if isinstance(exc, MeasurementError) and exc.log_tail:
            print("--- app log (last lines) ---", file=sys.stderr)
            print(exc.log_tail, file=sys.stderr)
        return int(exc.exit_status)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def main_exit() -> None:
    sys.exit(main())
