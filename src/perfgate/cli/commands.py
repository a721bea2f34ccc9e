"""One handler per subcommand: turn the parsed flags into a call of the core, print its outcome,
return the exit status. No measuring, judging or writing happens here."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from perfgate.config import load_config
from perfgate.console import Console
from perfgate.core import check as core
from perfgate.core.history import describe_history
from perfgate.errors import ExitStatus
from perfgate.github.action import run_action
from perfgate.github.comment import run_comment
from perfgate.github.token import reexec_without_secrets
from perfgate.layout import Layout
from perfgate.report.history import render_history
from perfgate.report.html import render_html
from perfgate.report.markdown import render_markdown
from perfgate.report.summary import summary_lines
from perfgate.results import load_results


def _show_summary(console: Console, checked: core.Checked) -> ExitStatus:
    for line in summary_lines(checked.results, checked.layout):
        console.show(line)
    return checked.exit_status()


def check(args: argparse.Namespace, console: Console) -> ExitStatus:
    request = core.CheckRequest(args.config, args.out, args.baseline, args.against, args.seed)
    return _show_summary(console, core.run_check(request, console))


def baseline(args: argparse.Namespace, console: Console) -> ExitStatus:
    request = core.CheckRequest(args.config, args.out, args.baseline)
    checked = core.run_baseline(request, console, replace=args.replace, force=args.force)
    return checked.exit_status()


def compare(args: argparse.Namespace, console: Console) -> ExitStatus:
    config = load_config(args.config)
    console.mask_secrets_of(config)
    checked = core.recompare(
        config,
        args.baseline_file,
        args.results_file,
        Layout(core.out_folder(config, args.out)),
        console,
    )
    return _show_summary(console, checked)


def calibrate(args: argparse.Namespace, console: Console) -> ExitStatus:
    config = load_config(args.config)
    console.mask_secrets_of(config)
    sides = f"{config.compare.ab_instances} instance(s) per side"
    console.show(f"A/A: this tree as both sides, {sides}, trials interleaved ...")
    console.show(
        core.calibrate(config, Layout(core.out_folder(config, args.out)), console, args.seed)
    )
    return ExitStatus.OK


def history(args: argparse.Namespace, console: Console) -> ExitStatus:
    # A baseline file named on its own needs no config; git is then asked from here.
    if args.baseline:
        path, folder = args.baseline, Path.cwd()
    else:
        config = load_config(args.config)
        path, folder = core.baseline_path(config), config.folder
    console.show(render_history(describe_history(path, folder), path), end="")
    return ExitStatus.OK


def report(args: argparse.Namespace, console: Console) -> ExitStatus:
    results = load_results(args.results_file)
    if args.format == "json":
        console.show(results.model_dump_json(indent=2))
    elif args.format == "html":
        console.show(render_html(results), end="")
    else:
        console.show(render_markdown(results), end="")
    return ExitStatus.OK


def action(args: argparse.Namespace, console: Console) -> ExitStatus:
    secrets = reexec_without_secrets()  # as a container's PID 1: the tokens leave its environment
    environ = {**os.environ, **secrets}
    console.mask_environment(environ)
    return ExitStatus(run_action(environ, console=console))


def comment(args: argparse.Namespace, console: Console) -> ExitStatus:
    return ExitStatus(
        run_comment(
            args.report,
            args.pr,
            repo=args.repo,
            key=args.key,
            token_env=args.token_env,
            expect_head_sha=args.expect_head_sha,
            run_link=args.run_url,
        )
    )
