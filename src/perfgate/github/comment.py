"""`perfgate comment`: post a report that an earlier job wrote as the sticky PR comment.

This is the second half of the fork-safe flow. A `pull_request` run from a fork gets a read-only
token, so it only uploads its report; a `workflow_run` job in the base repository, which never
checks out the PR's code, downloads it and posts it here with a write token.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from perfgate.errors import ConfigError, ExitStatus
from perfgate.github import fit as comment_body
from perfgate.github import runner as workflow
from perfgate.github.api import (
    CommentPosted,
    CommentResult,
    CommentSkipped,
    GitHubClient,
    GitHubError,
    PullRequest,
    marker,
    post_sticky_comment,
    pull_request_head_sha,
)
from perfgate.github.inputs import ActionInputs
from perfgate.github.runner import RunContext

ClientFactory = Callable[[str, str], GitHubClient]


def announce(result: CommentResult) -> None:
    """Say in the log what became of the comment; a skipped one is a warning annotation."""
    if isinstance(result, CommentPosted):
        print(f"perfgate: PR comment {result.action}: {result.url}", flush=True)
    elif isinstance(result, CommentSkipped):
        workflow.annotation("warning", result.reason)


def run_comment(
    report: Path,
    pr: int,
    *,
    repo: str | None = None,
    key: str = "perfgate",
    token_env: str = "GITHUB_TOKEN",
    expect_head_sha: str | None = None,
    run_link: str | None = None,
    env: Mapping[str, str] | None = None,
    client_factory: ClientFactory = GitHubClient,
) -> int:
    """`perfgate comment`: post an existing report.md as the sticky comment.

    Made for a `workflow_run` job that holds a write token but must not run the PR's code.
    The report and PR number come from the PR's artifact, so they are untrusted: with
    `expect_head_sha` (from the trusted workflow_run event) the PR must still point at the
    commit that was measured, which stops an artifact from steering the comment to another PR.
    """
    env = os.environ if env is None else env
    repo = repo or env.get("GITHUB_REPOSITORY", "")
    token = env.get(token_env, "")
    if not repo:
        raise ConfigError("no repository", "pass --repo owner/name or set GITHUB_REPOSITORY")
    if not token:
        raise ConfigError(f"no token in ${token_env}", "set it to a token that may write comments")
    try:
        text = report.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the report {report}: {exc.__class__.__name__}") from None
    ctx = workflow.read_context(env)
    client = client_factory(token, ctx.api_url)
    pull = PullRequest(repo, pr)
    if expect_head_sha:
        try:
            head = pull_request_head_sha(client, pull)
        except GitHubError as exc:
            workflow.annotation("warning", f"could not read PR #{pr}: {exc}")
            return ExitStatus.OK
        if head != expect_head_sha:
            workflow.annotation("warning", f"PR #{pr} is at {head}, not the measured commit")
            return ExitStatus.OK
    link = run_link or (ctx.run_link() if ctx.repo == repo else None)
    body = comment_body.comment_body(marker(key), text, link)
    announce(post_sticky_comment(client, pull, key, body))
    return ExitStatus.OK


def post_report(
    inputs: ActionInputs, ctx: RunContext, env: Mapping[str, str], client_factory: ClientFactory
) -> int:
    """The Action's `command: comment`: the comment workflow of the fork-safe flow posts a
    report that the PR's workflow measured, with the same (pinned) image."""
    pr = inputs.pr or (str(ctx.pull.number) if ctx.pull else "")
    if not pr:
        raise ConfigError("command: comment needs the pull request", "pass it as the input pr")
    return run_comment(
        Path(inputs.report),
        int(pr),
        repo=ctx.repo or None,
        key=inputs.comment_key or "perfgate",
        expect_head_sha=inputs.expect_head_sha or None,
        run_link=inputs.run_url or None,
        env={**env, "GITHUB_TOKEN": inputs.token},
        client_factory=client_factory,
    )
