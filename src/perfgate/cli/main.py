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
from perfgate.cli.load import add_parser as add_load_parser
from perfgate.config import DEFAULT_CONFIG, Config, load_config
from perfgate.core.confirm import confirm
from perfgate.errors import (
    ExitStatus,
    Interrupted,
    MeasurementError,
    PerfgateError,
    ResultsError,
    Terminated,
)
from perfgate.github.action import run_action
from perfgate.github.comment import run_comment
from perfgate.judge.calibrate import noise_table, render_noise
from perfgate.judge.diagnose import diagnose
from perfgate.judge.gate import judge
from perfgate.measure.abtest import measure_pair
from perfgate.measure.session import measure
from perfgate.redact import Redactor
from perfgate.report.charts import baseline_points
from perfgate.report.html import render_html
from perfgate.report.markdown import render_markdown, verdict_line
from perfgate.results import (
    BaselineFile,
    ResultsFile,
    RunResult,
    append_to_baseline,
    load_baseline,
    load_results,
    write_atomic,
)
from perfgate.run.worktree import base_tree

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
    baseline.add_argument("--force", action="store_true",
                          help="record the run even if incomplete or over budget")  # fmt: skip
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


# Secrets to mask in everything printed or written; set per command once the config is known.
_redact = Redactor.for_app(None)


def _say(message: str) -> None:
    print(f"perfgate: {_redact(message)}", file=sys.stderr, flush=True)


def _write_text(path: Path, text: str) -> None:
    try:
        write_atomic(path, _redact(text))
    except OSError as exc:
        raise ResultsError(
            f"{path}: cannot write: {exc.strerror}", "choose a writable folder with --out"
        ) from None


def _scrub(run: RunResult) -> RunResult:
    """The run without secrets in its free-text fields (the app command, the reason)."""
    reason = run.incomplete_reason
    return run.model_copy(
        update={"app": _redact(run.app), "incomplete_reason": reason and _redact(reason)}
    )


def write_results(
    config: Config,
    run: RunResult,
    baseline: BaselineFile | None,
    out: Path,
    base_run: RunResult | None = None,
    against: str | None = None,
    confirmation: RunResult | None = None,
) -> ResultsFile:
    verdict = judge(config, run, baseline, base_run, confirmation)
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
        confirmation=confirmation,
    )
    _write_text(out / "results.json", results.model_dump_json(indent=2) + "\n")
    _write_text(out / "report.md", render_markdown(results))
    _write_text(out / "report.html", render_html(results))
    return results


def judge_and_write(
    config: Config,
    run: RunResult,
    baseline: BaselineFile | None,
    out: Path,
    base_run: RunResult | None = None,
    against: str | None = None,
    confirmation: RunResult | None = None,
) -> ExitStatus:
    results = write_results(config, run, baseline, out, base_run, against, confirmation)
    print(_redact(verdict_line(results).removeprefix("## ")))
    if not run.complete:
        print(_redact(f"  incomplete   {run.incomplete_reason}"))
    for c in results.checks:
        if c.status in ("fail", "inconclusive"):
            print(_redact(f"  {c.status:<12} {c.endpoint} {c.phase} {c.metric}: {c.message}"))
    for f in results.findings:
        if f.severity in ("CRITICAL", "HIGH"):
            print(_redact(f"  finding      {f.severity} {f.endpoint} {f.kind}: {f.title}"))
    print(f"Report: {out / 'report.md'} (and report.html)  Results: {out / 'results.json'}")
    return exit_status_for(results, config)


def _measure(config: Config, baseline: BaselineFile | None, out: Path) -> RunResult:
    """Measure; on failure or a signal, write what was measured (marked incomplete) first."""
    _mask_secrets_of(config)
    try:
        return _scrub(measure(config, out, _say))
    except PerfgateError as exc:
        if exc.partial is not None:
            write_results(config, _scrub(exc.partial), baseline, out)
            _say(f"the incomplete run was written to {out / 'results.json'} and report.md")
        raise
    finally:
        _scrub_log(out / "app.log")


def _mask_secrets_of(config: Config) -> None:
    global _redact
    _redact = Redactor.for_app(config.app)


def _scrub_log(path: Path) -> None:
    """The app's own log is kept for the reader; keep it free of secrets as well."""
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return
    if _redact(text) != text:
        _write_text(path, text)


def cmd_check(args: argparse.Namespace) -> ExitStatus:
    config = load_config(args.config)
    if args.against:
        _mask_secrets_of(config)
        _check_writable(args.out)
        with base_tree(args.against, config.folder) as tree:
            print(f"A/B: base {args.against} ({tree.commit[:12]}) side by side with this tree")
            base_run, run = measure_pair(config, tree.folder, config.folder, args.out, args.seed)
        against = f"{args.against} ({tree.commit[:12]})"
        return judge_and_write(config, run, None, args.out, base_run, against)
    path = baseline_path(args, config)
    baseline = load_baseline(path) if path.exists() else None
    _check_writable(args.out)
    run = _measure(config, baseline, args.out)
    confirmation = _confirm(config, run, baseline, args.out)
    return judge_and_write(config, run, baseline, args.out, confirmation=confirmation)


def _confirm(
    config: Config, run: RunResult, baseline: BaselineFile | None, out: Path
) -> RunResult | None:
    """The second measurement of perfgate.confirm; if it breaks, the first one stands."""
    try:
        second = confirm(config, run, baseline, out, _say)
    except MeasurementError as exc:
        _say(f"the confirmation failed ({exc.message}); the first measurement stands")
        return None
    except Interrupted:
        write_results(config, run, baseline, out)
        _say(f"the run, unconfirmed, was written to {out / 'results.json'} and report.md")
        raise
    finally:
        _scrub_log(out / "confirm" / "app.log")
    return second and _scrub(second)


def cmd_baseline(args: argparse.Namespace) -> ExitStatus:
    config = load_config(args.config)
    path = baseline_path(args, config)
    if path.exists() and not args.replace:
        load_baseline(path)  # refuse to append to a damaged file before spending minutes measuring
    _check_writable(args.out)
    _check_writable(path.parent)
    run = _measure(config, None, args.out)
    # A baseline every later pull request is judged against must come from a sound run.
    results = write_results(config, run, None, args.out)
    failed = [c for c in results.checks if c.status == "fail"]
    if (failed or not run.complete) and not args.force:
        why = (
            f"the run is incomplete ({run.incomplete_reason})"
            if not run.complete
            else f"the run failed {len(failed)} absolute budget(s), first: "
            f"{failed[0].endpoint} {failed[0].metric}: {failed[0].message}"
        )
        _say(f"error: {path} was not changed: {why}")
        _say("fix the app or the budgets, or pass --force to record this run anyway")
        return ExitStatus.GATE_FAILED
    if args.replace:
        path.unlink(missing_ok=True)
    baseline = append_to_baseline(path, run)
    print(f"Baseline: {path} now holds {len(baseline.runs)} run(s).")
    return ExitStatus.OK


def cmd_compare(args: argparse.Namespace) -> ExitStatus:
    config = load_config(args.config)
    baseline = load_baseline(args.baseline_file)
    results = load_results(args.results_file)
    _check_writable(args.out)
    # A confirmation measured for this run is evidence against any baseline; it is reused.
    return judge_and_write(
        config, results.run, baseline, args.out, confirmation=results.confirmation
    )


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
    raise Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], ExitStatus] = args.handler
    previous = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    in_main_thread = _in_main_thread()
    if in_main_thread:
        signal.signal(signal.SIGTERM, _raise_on_sigterm)
        # A shell starting a background job may have set SIGINT to "ignore": take it back.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return int(handler(args))
    except KeyboardInterrupt as exc:
        if isinstance(exc, Terminated):
            _say("stopped by SIGTERM; every process it started was stopped")
            return int(ExitStatus.TERMINATED)
        _say("interrupted by SIGINT; every process it started was stopped")
        return int(ExitStatus.INTERRUPTED)
    except Interrupted as exc:
        _say(f"{exc}; every process it started was stopped")
        return int(exc.exit_status)
    except PerfgateError as exc:
        if args.traceback:
            print(_redact(traceback.format_exc()), file=sys.stderr, end="")
        _say(f"error: {exc}")
        if isinstance(exc, MeasurementError) and exc.log_tail:
            print("--- app log (last lines) ---", file=sys.stderr)
            print(_redact(exc.log_tail), file=sys.stderr)
        return int(exc.exit_status)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous[0])
            signal.signal(signal.SIGINT, previous[1])


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def main_exit() -> None:
    sys.exit(main())
