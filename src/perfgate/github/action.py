"""`perfgate action`: the thin shell between GitHub Actions and the core check flow.

It reads the inputs and the run's context, runs the check (the same perfgate.core flow as `perfgate
check`; the `setup` input joins app.setup, run in each side's tree), and copies what the check wrote
to the places GitHub reads: step outputs, the job summary, annotations and the sticky PR comment.
The exit code follows the one exit policy (perfgate.core.exits); the comment can never change it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from contextlib import chdir
from pathlib import Path

from perfgate.console import Console
from perfgate.core.check import Checked, CheckRequest, run_baseline, run_check
from perfgate.core.exits import error_exit
from perfgate.errors import ConfigError, ExitStatus, PerfgateError, ResultsError
from perfgate.github import fit, runner
from perfgate.github.api import GitHubClient, marker, post_sticky_comment
from perfgate.github.comment import ClientFactory, announce, post_report
from perfgate.github.inputs import OUT_DIR, ActionInputs, check_request, read_inputs
from perfgate.github.runner import RunContext, read_context
from perfgate.github.token import hidden_from_children
from perfgate.layout import Layout
from perfgate.report.summary import summary_lines
from perfgate.report.text import cell
from perfgate.results import ResultsFile, load_results

CheckRunner = Callable[[CheckRequest, Console], Checked]


def run_action(
    env: Mapping[str, str] | None = None,
    *,
    check: CheckRunner = run_check,
    client_factory: ClientFactory = GitHubClient,
    console: Console | None = None,
) -> int:
    """Run the gate as a GitHub Action step and return the step's exit code."""
    env = os.environ if env is None else env
    console = console or Console()
    ctx = read_context(env)
    try:
        inputs = read_inputs(env)
        workdir = Path(inputs.working_directory)
        if not workdir.is_dir():
            raise ConfigError(f"working-directory {inputs.working_directory!r} does not exist")
    except ConfigError as exc:
        # Nothing ran; the step still says why, where the reader looks first.
        status = error_exit(console, exc)
        runner.annotation("error", str(exc), title="perfgate: bad input")
        runner.append_summary(ctx.summary_path, _error_report(status, ctx.run_link(), str(exc)))
        outputs = {"verdict": "error", "report": "", "results": "", "failures": "0"}
        runner.write_outputs(ctx.output_path, outputs)
        return status
    if inputs.command == "comment":
        with chdir(workdir):
            return post_report(inputs, ctx, env, client_factory)
    if inputs.command == "baseline":
        check = run_baseline
    layout = Layout(Path(OUT_DIR))
    with chdir(workdir), hidden_from_children():
        layout.prepare()  # nothing of an earlier run may pass for this one's
        status, results, problem = _run_check(check, check_request(inputs, ctx), console, inputs)
        if results is None:
            results = _read_results(layout.results)  # a broken check's incomplete run
        report = layout.report.read_text(encoding="utf-8") if layout.report.is_file() else ""
        if not report:
            # Later steps (an artifact upload for the comment workflow) find a report either way.
            report = _error_report(status, ctx.run_link(), problem)
            console.write_text(layout.report, report)
    finished = status in (ExitStatus.OK, ExitStatus.GATE_FAILED)
    verdict = results.verdict if results and finished else "error"
    config_file = Path(inputs.working_directory, inputs.config)
    failures = runner.annotate_checks(results, config_file) if results else 0
    runner.append_summary(ctx.summary_path, fit.fit(report, fit.SUMMARY_LIMIT))
    rel = os.path.normpath(Path(inputs.working_directory, OUT_DIR))
    runner.write_outputs(
        ctx.output_path,
        {
            "verdict": verdict,
            "report": str(Path(rel, "report.md")),
            "results": str(Path(rel, "results.json")) if results else "",
            "failures": str(failures),
        },
    )
    runner.give_to_owner_of(Path(inputs.working_directory, OUT_DIR), Path.cwd())
    failing = status != ExitStatus.OK or verdict in ("fail", "error")
    _comment(inputs, ctx, report, failing=failing, client_factory=client_factory)
    return status


def _run_check(
    check: CheckRunner, request: CheckRequest, console: Console, inputs: ActionInputs
) -> tuple[ExitStatus, ResultsFile | None, str]:
    """The check's exit status, its results, and what went wrong when it broke."""
    with runner.group(f"perfgate check -c {inputs.config}"):
        try:
            checked = check(request, console)
        except PerfgateError as exc:
            return error_exit(console, exc), None, console.redact(str(exc))
        for line in summary_lines(checked.results, checked.layout):
            # A check's message may hold text from the app: a line break in it must not start a
            # line of its own, which the runner would read as a workflow command.
            console.show(" ".join(line.splitlines()))
        return checked.exit_status(inputs.fail_on), checked.results, ""


def _read_results(path: Path) -> ResultsFile | None:
    try:
        return load_results(path) if path.is_file() else None
    except ResultsError:
        return None


def _error_report(status: int, link: str | None, problem: str = "") -> str:
    where = f"[the run log]({link})" if link else "the run log"
    said = f"{cell(problem)}\n\n" if problem else ""
    return (
        f"## ⚠️ perfgate could not finish the check (exit status {status})\n\n{said}See {where}.\n"
    )


def _comment(
    inputs: ActionInputs,
    ctx: RunContext,
    report: str,
    *,
    failing: bool,
    client_factory: ClientFactory,
) -> None:
    if inputs.comment == "never":
        return
    if ctx.pull is None:
        runner.annotation("notice", "not a pull request event: no PR comment")
        return
    if not inputs.token:
        runner.annotation("warning", "no github-token: no PR comment")
        return
    config_path = os.path.normpath(Path(inputs.working_directory, inputs.config))
    key = inputs.comment_key or ":".join([ctx.workflow_name, ctx.job, config_path])
    body = fit.comment_body(marker(key), report, ctx.run_link())
    # on-failure still updates an earlier comment on success, so it never goes stale.
    create = inputs.comment == "always" or failing
    client = client_factory(inputs.token, ctx.api_url)
    announce(post_sticky_comment(client, ctx.pull, key, body, create=create))
