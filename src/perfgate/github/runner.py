"""Talking to the Actions runner: its context, step outputs, the job summary, annotations, groups.

The runner describes the run in `GITHUB_*` variables and the event JSON. It reads workflow
commands (`::error ...::`) from stdout, and outputs and the summary from the files named by
`GITHUB_OUTPUT` and `GITHUB_STEP_SUMMARY`. Every value written here may hold untrusted text
(endpoint names, error messages), so each is escaped for the channel it goes through: a
message cannot start a second workflow command, and an output value cannot end its own
delimiter block.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml

from perfgate.errors import ConfigError
from perfgate.github.api import DEFAULT_API_URL, PullRequest
from perfgate.github.fit import run_url
from perfgate.results import ResultsFile


@dataclass(frozen=True)
class RunContext:
    """What the runner tells us about this run; `pull` is None outside pull-request events."""

    api_url: str
    server_url: str
    repo: str
    run_id: str
    workflow_name: str
    job: str
    pull: PullRequest | None
    base_sha: str | None
    output_path: str | None
    summary_path: str | None

    def run_link(self) -> str | None:
        if not (self.repo and self.run_id):
            return None
        return run_url(self.server_url, self.repo, self.run_id)


def read_context(env: Mapping[str, str]) -> RunContext:
    event: dict[str, Any] = {}
    if event_path := env.get("GITHUB_EVENT_PATH"):
        try:
            event = json.loads(Path(event_path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the event file {event_path}: {exc}") from None
    repo = env.get("GITHUB_REPOSITORY", "")
    pr = event.get("pull_request") or {}
    number = pr.get("number")
    return RunContext(
        api_url=env.get("GITHUB_API_URL") or DEFAULT_API_URL,
        server_url=env.get("GITHUB_SERVER_URL") or "https://github.com",
        repo=repo,
        run_id=env.get("GITHUB_RUN_ID", ""),
        workflow_name=env.get("GITHUB_WORKFLOW", ""),
        job=env.get("GITHUB_JOB", ""),
        pull=PullRequest(repo, int(number)) if repo and isinstance(number, int) else None,
        base_sha=(pr.get("base") or {}).get("sha"),
        output_path=env.get("GITHUB_OUTPUT"),
        summary_path=env.get("GITHUB_STEP_SUMMARY"),
    )


def escape_data(text: str) -> str:
    """Escape a workflow-command message, the part after `::`."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow-command property value (`file=`, `title=`)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(
    level: str,
    message: str,
    *,
    file: str | None = None,
    line: int | None = None,
    title: str | None = None,
    out: TextIO | None = None,
) -> None:
    """Print an `::error`, `::warning` or `::notice` annotation."""
    props = []
    if file:
        props.append(f"file={escape_property(file)}")
        if line:
            props.append(f"line={line}")
    if title:
        props.append(f"title={escape_property(title)}")
    joined = " " + ",".join(props) if props else ""
    print(f"::{level}{joined}::{escape_data(message)}", file=out or sys.stdout, flush=True)


@contextmanager
def group(title: str, out: TextIO | None = None) -> Iterator[None]:
    """Fold everything printed inside the block under one expandable log line."""
    stream = out or sys.stdout
    print(f"::group::{escape_data(title)}", file=stream, flush=True)
    try:
        yield
    finally:
        print("::endgroup::", file=stream, flush=True)


def write_outputs(path: str | None, outputs: Mapping[str, str]) -> None:
    """Append step outputs with the multiline `name<<DELIMITER` syntax.

    The delimiter is random, so no value (which may contain any text) can end its block early.
    Without `GITHUB_OUTPUT` (a local run) there is nowhere to write and nothing is done.
    """
    if not path:
        return
    with open(path, "a", encoding="utf-8") as handle:
        for name, value in outputs.items():
            delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
            while delimiter in value:
                delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
            handle.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def append_summary(path: str | None, markdown: str) -> None:
    """Add markdown to the job summary page (the caller keeps it under the 1 MiB limit)."""
    if not path:
        return
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(markdown.rstrip("\n") + "\n")


def give_to_owner_of(folder: Path, workspace: Path) -> None:
    """As root (a container action runs as root), hand `folder` to the owner of the workspace:
    the job's next steps run as that user (1001 on GitHub's runners) and must be able to read,
    replace and remove what perfgate wrote."""
    if os.geteuid() != 0 or not folder.exists():
        return
    owner = workspace.stat()
    if owner.st_uid == 0:
        return
    for root, dirs, files in os.walk(folder):
        for name in [".", *dirs, *files]:
            os.chown(Path(root, name), owner.st_uid, owner.st_gid, follow_symlinks=False)


def annotate_checks(results: ResultsFile, config_file: Path) -> int:
    """One annotation per failed (error) or inconclusive (warning) check; returns the failures."""
    failures = 0
    for check in results.checks:
        if check.status not in ("fail", "inconclusive"):
            continue
        failures += check.status == "fail"
        annotation(
            "error" if check.status == "fail" else "warning",
            f"{check.endpoint} {check.phase} {check.metric}: {check.message}",
            file=os.path.normpath(config_file),
            line=budget_line(config_file, check.endpoint, check.metric),
            title=f"perfgate: {check.status}",
        )
    return failures


def budget_line(config_file: Path, endpoint: str, metric: str = "") -> int | None:
    """The 1-based line of thresholds.yaml that a failed check should point at.

    In order: the metric under `budgets.endpoints.<endpoint>`, that endpoint's own budget, the
    metric under `budgets.default` (the budget the endpoint inherits), then wherever the
    endpoint is named (`- name: <endpoint>`). The YAML is composed, not loaded, so each node
    keeps its position. Any problem (no file, bad YAML, no match) means no line: the
    annotation still names the file.
    """
    try:
        root = yaml.compose(config_file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return None
    if root is None:
        return None
    budgets = _child(root, "budgets")
    own = _child(_child(budgets, "endpoints"), endpoint)
    for node in (_key(own, metric), _key(_child(budgets, "endpoints"), endpoint)):
        if node is not None:
            return node.start_mark.line + 1
    if own is None and (node := _key(_child(budgets, "default"), metric)) is not None:
        return node.start_mark.line + 1
    return _find_scalar(root, endpoint)


def _key(mapping: yaml.Node | None, name: str) -> yaml.Node | None:
    """The key node called `name` in a YAML mapping node."""
    if isinstance(mapping, yaml.MappingNode):
        for key, _ in mapping.value:
            if isinstance(key, yaml.ScalarNode) and key.value == name:
                return key
    return None


def _child(mapping: yaml.Node | None, name: str) -> yaml.Node | None:
    """The value node under `name` in a YAML mapping node."""
    if isinstance(mapping, yaml.MappingNode):
        for key, value in mapping.value:
            if isinstance(key, yaml.ScalarNode) and key.value == name:
                return value  # type: ignore[no-any-return]
    return None


def _find_scalar(node: yaml.Node, wanted: str) -> int | None:
    if isinstance(node, yaml.ScalarNode):
        return node.start_mark.line + 1 if node.value == wanted else None
    children: list[yaml.Node] = []
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            children += [key, value]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    for child in children:
        line = _find_scalar(child, wanted)
        if line is not None:
            return line
    return None
