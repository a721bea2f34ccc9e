"""`perfgate action` and `perfgate comment`: the thin adapter between GitHub Actions and the CLI.

A Docker container action receives its inputs as `INPUT_<NAME>` environment variables
(upper-cased, hyphens kept: `INPUT_FAIL-ON`) and the run's context as `GITHUB_*` variables and
the event JSON. This module turns those into a `perfgate check` command line, runs it in
process, and copies what it wrote (results.json, report.md) to the places GitHub reads: step
outputs, the job summary, annotations and the sticky PR comment. All measuring and judging
stays in the CLI; the comment can never change the exit code.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator, Mapping
from contextlib import chdir, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perfgate.errors import ConfigError, ExitStatus
from perfgate.github import fit as comment_body
from perfgate.github import runner as workflow
from perfgate.github.api import GitHubClient, marker, post_sticky_comment
from perfgate.github.comment import ClientFactory, announce
from perfgate.github.runner import RunContext, read_context

CheckRunner = Callable[[list[str]], int]

OUT_DIR = ".perfgate"
COMMENT_CHOICES = ("always", "on-failure", "never")
FAIL_ON_CHOICES = ("fail", "inconclusive", "never")
# Every input in action.yml, with the default used when the runner passes it empty.
INPUT_DEFAULTS = {
    "config": "thresholds.yaml",
    "baseline": "",
    "against": "",
    "setup": "",
    "github-token": "",
    "comment": "always",
    "fail-on": "fail",
    "working-directory": ".",
    "comment-key": "",
}


@dataclass(frozen=True)
class ActionInputs:
    config: str
    baseline: str
    against: str
    setup: str
    token: str = field(repr=False)
    comment: str
    fail_on: str
    working_directory: str
    comment_key: str


def read_inputs(env: Mapping[str, str]) -> ActionInputs:
    def get(name: str) -> str:
        return env.get(f"INPUT_{name.upper()}", "").strip() or INPUT_DEFAULTS[name]

    comment, fail_on = get("comment"), get("fail-on")
    if comment not in COMMENT_CHOICES:
        raise ConfigError(f"input comment={comment!r}", f"use one of {', '.join(COMMENT_CHOICES)}")
    if fail_on not in FAIL_ON_CHOICES:
        raise ConfigError(f"input fail-on={fail_on!r}", f"use one of {', '.join(FAIL_ON_CHOICES)}")
    return ActionInputs(
        config=get("config"),
        baseline=get("baseline"),
        against=get("against"),
        setup=get("setup"),
        token=get("github-token"),
        comment=comment,
        fail_on=fail_on,
        working_directory=get("working-directory"),
        comment_key=get("comment-key"),
    )


def check_argv(inputs: ActionInputs, ctx: RunContext) -> list[str]:
    """The `perfgate check` command line for these inputs.

    Without an explicit `against` or `baseline`, a pull request is compared with its base
    commit measured in the same job: the only comparison this noisy hardware can trust.
    """
    argv = ["check", "-c", inputs.config, "--out", OUT_DIR]
    if inputs.baseline:
        argv += ["--baseline", inputs.baseline]
    against = inputs.against or ("" if inputs.baseline else ctx.base_sha or "")
    if against and against != "none":
        argv += ["--against", against]
    return argv


def gate_exit(check_status: int, verdict: str, fail_on: str) -> int:
    """The action's exit code: `fail-on` decides for a verdict, never for a broken check."""
    if check_status not in (ExitStatus.OK, ExitStatus.GATE_FAILED):
        return check_status  # could not measure, bad config, interrupted: always non-zero
    if verdict == "fail" and fail_on in ("fail", "inconclusive"):
        return ExitStatus.GATE_FAILED
    if verdict == "inconclusive" and fail_on == "inconclusive":
        return ExitStatus.GATE_FAILED
    return ExitStatus.OK


def run_action(
    env: Mapping[str, str] | None = None,
    *,
    check: CheckRunner | None = None,
    client_factory: ClientFactory = GitHubClient,
) -> int:
    """Run the gate as a GitHub Action step and return the step's exit code."""
    env = os.environ if env is None else env
    if check is None:
        from perfgate.cli.main import main  # cli imports this module: import late

        check = main
    inputs, ctx = read_inputs(env), read_context(env)
    workdir = Path(inputs.working_directory)
    if not workdir.is_dir():
        raise ConfigError(f"working-directory {inputs.working_directory!r} does not exist")
    with chdir(workdir), _hidden_from_children("INPUT_GITHUB-TOKEN"):
        status = _setup(inputs.setup)
        if status == ExitStatus.OK:
            status = _run_check(check, check_argv(inputs, ctx))
        # After a broken check, files in the out dir are left over from an older run.
        finished = status in (ExitStatus.OK, ExitStatus.GATE_FAILED)
        results = _read_results(Path(OUT_DIR, "results.json")) if finished else {}
        report_file = Path(OUT_DIR, "report.md")
        report = (
            report_file.read_text(encoding="utf-8") if finished and report_file.is_file() else ""
        )
        if not report:
            # Later steps (an artifact upload for the comment workflow) find a report either way.
            report = _error_report(status, ctx.run_link())
            report_file.parent.mkdir(parents=True, exist_ok=True)
            report_file.write_text(report, encoding="utf-8")
    verdict = str(results.get("verdict") or "error")
    failures = _annotate(results, Path(inputs.working_directory, inputs.config))
    workflow.append_summary(ctx.summary_path, comment_body.fit(report, comment_body.SUMMARY_LIMIT))
    rel = os.path.normpath(Path(inputs.working_directory, OUT_DIR))
    workflow.write_outputs(
        ctx.output_path,
        {
            "verdict": verdict,
            "report": str(Path(rel, "report.md")),
            "results": str(Path(rel, "results.json")) if results else "",
            "failures": str(failures),
        },
    )
    exit_code = gate_exit(status, verdict, inputs.fail_on)
    failing = exit_code != 0 or verdict in ("fail", "error")
    _comment(inputs, ctx, report, failing=failing, client_factory=client_factory)
    return exit_code


@contextmanager
def _hidden_from_children(name: str) -> Iterator[None]:
    """Keep a variable out of the environment while the PR's code runs.

    The setup command and the app under test (which inherits os.environ) are the PR's code; a
    PR must not be able to read the token that may write comments.
    """
    saved = os.environ.pop(name, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[name] = saved


def _setup(command: str) -> int:
    if not command:
        return ExitStatus.OK
    with workflow.group("perfgate: setup"):
        # The setup command comes from the workflow file, as trusted as a `run:` step.
        done = subprocess.run(command, shell=True, check=False)
    if done.returncode != 0:
        workflow.annotation("error", f"setup command failed with exit status {done.returncode}")
        return ExitStatus.CANNOT_MEASURE
    return ExitStatus.OK


def _run_check(check: CheckRunner, argv: list[str]) -> int:
    with workflow.group("perfgate " + " ".join(argv)):
        try:
            return check(argv)
        except SystemExit as exc:  # argparse exits on an unknown flag
            return exc.code if isinstance(exc.code, int) else ExitStatus.USAGE


def _read_results(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _annotate(results: Mapping[str, Any], config_file: Path) -> int:
    """One annotation per failed (error) or inconclusive (warning) check; returns the failures."""
    failures = 0
    for check in results.get("checks") or []:
        if not isinstance(check, dict) or check.get("status") not in ("fail", "inconclusive"):
            continue
        failures += check["status"] == "fail"
        endpoint = str(check.get("endpoint", ""))
        what = " ".join(str(check.get(k, "")) for k in ("phase", "metric")).strip()
        workflow.annotation(
            "error" if check["status"] == "fail" else "warning",
            f"{endpoint} {what}: {check.get('message', '')}",
            file=os.path.normpath(config_file),
            line=workflow.budget_line(config_file, endpoint, str(check.get("metric", ""))),
            title=f"perfgate: {check['status']}",
        )
    return failures


def _error_report(status: int, link: str | None) -> str:
    where = f"[the run log]({link})" if link else "the run log"
    return f"## ⚠️ perfgate could not finish the check (exit status {status})\n\nSee {where}.\n"


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
        workflow.annotation("notice", "not a pull request event: no PR comment")
        return
    if not inputs.token:
        workflow.annotation("warning", "no github-token: no PR comment")
        return
    key = inputs.comment_key or ":".join(
        [
            ctx.workflow_name,
            ctx.job,
            os.path.normpath(Path(inputs.working_directory, inputs.config)),
        ]
    )
    body = comment_body.comment_body(marker(key), report, ctx.run_link())
    # on-failure still updates an earlier comment on success, so it never goes stale.
    create = inputs.comment == "always" or failing
    client = client_factory(inputs.token, ctx.api_url)
    announce(post_sticky_comment(client, ctx.pull, key, body, create=create))
