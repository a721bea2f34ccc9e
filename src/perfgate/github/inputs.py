"""The Action's inputs: read from `INPUT_*` variables, checked, and turned into a check request.

A Docker container action receives its inputs as `INPUT_<NAME>` environment variables
(upper-cased, hyphens kept: `INPUT_FAIL-ON`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from perfgate.core.check import CheckRequest
from perfgate.core.exits import BLOCKING
from perfgate.errors import ConfigError
from perfgate.github.runner import RunContext

OUT_DIR = ".perfgate"
COMMENT_CHOICES = ("always", "on-failure", "never")
COMMANDS = ("check", "baseline", "comment")
FAIL_ON_CHOICES = tuple(BLOCKING)
# Every input in action.yml, with the default used when the runner passes it empty.
INPUT_DEFAULTS = {
    "command": "check",
    "config": "thresholds.yaml",
    "baseline": "",
    "against": "",
    "setup": "",
    "github-token": "",
    "comment": "always",
    "fail-on": "",
    "working-directory": ".",
    "comment-key": "",
    "report": ".perfgate/report.md",
    "pr": "",
    "expect-head-sha": "",
    "run-url": "",
    "python-version": "",
}


@dataclass(frozen=True)
class ActionInputs:
    command: str
    config: str
    baseline: str
    against: str
    setup: str
    token: str = field(repr=False)
    comment: str
    fail_on: str | None  # None: as the config's compare.strict says
    working_directory: str
    comment_key: str
    report: str = ".perfgate/report.md"  # command: comment
    pr: str = ""
    expect_head_sha: str = ""
    run_url: str = ""
    python_version: str = ""


def read_inputs(env: Mapping[str, str]) -> ActionInputs:
    def get(name: str) -> str:
        return env.get(f"INPUT_{name.upper()}", "").strip() or INPUT_DEFAULTS[name]

    command, comment, fail_on = get("command"), get("comment"), get("fail-on")
    if command not in COMMANDS:
        raise ConfigError(f"input command={command!r}", f"use one of {', '.join(COMMANDS)}")
    if get("pr") and not get("pr").isdigit():
        raise ConfigError(f"input pr={get('pr')!r}: not a pull request number", "e.g. pr: 42")
    if comment not in COMMENT_CHOICES:
        raise ConfigError(f"input comment={comment!r}", f"use one of {', '.join(COMMENT_CHOICES)}")
    if fail_on and fail_on not in FAIL_ON_CHOICES:
        raise ConfigError(f"input fail-on={fail_on!r}", f"use one of {', '.join(FAIL_ON_CHOICES)}")
    return ActionInputs(
        command=command,
        config=get("config"),
        baseline=get("baseline"),
        against=get("against"),
        setup=get("setup"),
        token=get("github-token"),
        comment=comment,
        fail_on=fail_on or None,
        working_directory=get("working-directory"),
        comment_key=get("comment-key"),
        report=get("report"),
        pr=get("pr"),
        expect_head_sha=get("expect-head-sha"),
        run_url=get("run-url"),
        python_version=get("python-version"),
    )


def check_request(inputs: ActionInputs, ctx: RunContext) -> CheckRequest:
    """The check these inputs ask for (paths relative to the working directory).

    Without an explicit `against` or `baseline`, a pull request is compared with its base
    commit measured in the same job: the only comparison this noisy hardware can trust.
    """
    against = inputs.against or ("" if inputs.baseline else ctx.base_sha or "")
    return CheckRequest(
        config=Path(inputs.config),
        out=Path(OUT_DIR),
        baseline=Path(inputs.baseline) if inputs.baseline else None,
        against=against if against and against != "none" else None,
        setup=(inputs.setup,) if inputs.setup else (),
        python=inputs.python_version or None,
    )
