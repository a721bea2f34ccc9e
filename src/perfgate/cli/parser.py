"""The command line's grammar: every subcommand, flag and default, and the handler it calls."""

from __future__ import annotations

import argparse
from pathlib import Path

from perfgate import __version__
from perfgate.cli import commands
from perfgate.cli.load import add_parser as add_load_parser
from perfgate.config import DEFAULT_CONFIG

# --out: None means `.perfgate/` beside the config, where the baseline is (perfgate.core).
DEFAULT_OUT = None
OUT_HELP = "folder for results.json and the reports (default: .perfgate/ beside the config)"


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
    check.add_argument("--out", type=Path, default=DEFAULT_OUT, help=OUT_HELP)
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
    check.set_defaults(handler=commands.check)

    calibrate = sub.add_parser("calibrate", help="A/A: measure the noise, suggest tolerances")
    calibrate.add_argument("-c", "--config", type=Path, default=Path(DEFAULT_CONFIG))
    calibrate.add_argument("--out", type=Path, default=DEFAULT_OUT, help=OUT_HELP)
    calibrate.add_argument("--seed", type=int, default=None)
    calibrate.set_defaults(handler=commands.calibrate)

    baseline = sub.add_parser("baseline", help="measure and add the run to the baseline history")
    with_config(baseline)
    baseline.add_argument("--out", type=Path, default=DEFAULT_OUT, help=OUT_HELP)
    baseline.add_argument(
        "--replace", action="store_true", help="start a new history instead of adding to it"
    )
    baseline.add_argument("--force", action="store_true",
                          help="record the run even if incomplete or over budget")  # fmt: skip
    baseline.set_defaults(handler=commands.baseline)

    compare = sub.add_parser("compare", help="judge a results file against a baseline file")
    compare.add_argument("baseline_file", type=Path, metavar="BASELINE")
    compare.add_argument("results_file", type=Path, metavar="RESULTS")
    compare.add_argument("-c", "--config", type=Path, default=Path(DEFAULT_CONFIG))
    compare.add_argument("--out", type=Path, default=DEFAULT_OUT, help=OUT_HELP)
    compare.set_defaults(handler=commands.compare)

    history = sub.add_parser(
        "history", help="the baseline history's steps, and the runs a check uses"
    )
    with_config(history)
    history.set_defaults(handler=commands.history)

    report = sub.add_parser("report", help="render a results file")
    report.add_argument("results_file", type=Path, metavar="RESULTS")
    report.add_argument("--format", choices=["md", "html", "json"], default="md")
    report.set_defaults(handler=commands.report)

    action = sub.add_parser("action", help="run as a GitHub Action step (INPUT_* and GITHUB_*)")
    action.set_defaults(handler=commands.action)

    comment = sub.add_parser("comment", help="post a report.md as the sticky PR comment")
    comment.add_argument("--report", type=Path, required=True, help="the report.md to post")
    comment.add_argument("--pr", type=int, required=True, help="pull request number")
    comment.add_argument("--repo", help="owner/name (default: $GITHUB_REPOSITORY)")
    comment.add_argument("--key", default="perfgate", help="names the comment to keep updating")
    comment.add_argument("--token-env", default="GITHUB_TOKEN", help="variable holding the token")
    comment.add_argument("--expect-head-sha", help="post only if the PR head is this commit")
    comment.add_argument("--run-url", help="link to the run that measured (default: this run)")
    comment.set_defaults(handler=commands.comment)

    add_load_parser(sub)
    return parser
