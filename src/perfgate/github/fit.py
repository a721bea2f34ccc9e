"""Fitting a markdown report into a PR comment (or a job summary) without losing the verdict.

GitHub rejects a comment body over 65,536 characters with HTTP 422. This module shortens the
report before that can happen: first it empties `<details>` sections, last one first, then it
cuts the tail at a line boundary. The head of the report, where the verdict line sits, is the
last thing to go, and the marker and the link to the run are never cut.
"""

from __future__ import annotations

import re

COMMENT_LIMIT = 65_536
# The job summary's limit is 1 MiB per step; stay a little under it.
SUMMARY_LIMIT = 1_000_000

_DETAILS_TAG = re.compile(r"<(/?)details\b[^>]*>", re.IGNORECASE)
_SUMMARY = re.compile(r"<summary>(.*?)</summary>", re.IGNORECASE | re.DOTALL)
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")


def github_length(text: str) -> int:
    """A cautious length: GitHub may store each newline as CRLF, so count newlines twice."""
    return len(text) + text.count("\n")


def run_url(server_url: str, repo: str, run_id: str) -> str:
    return f"{server_url.rstrip('/')}/{repo}/actions/runs/{run_id}"


def comment_body(marker: str, report: str, link: str | None, limit: int = COMMENT_LIMIT) -> str:
    """The whole comment: marker first (so the comment can be found), report, link to the run."""
    footer = f"\n\n---\n[Full perfgate run]({link})\n" if link else "\n"
    head = marker + "\n"
    room = limit - github_length(head) - github_length(footer)
    return head + fit(report.rstrip("\n"), room, link) + footer


def fit(report: str, limit: int, link: str | None = None) -> str:
    """Shorten `report` until `github_length(report) <= limit`."""
    if github_length(report) <= limit:
        return report
    text = _collapse_details(report, limit, link)
    if github_length(text) <= limit:
        return text
    return _cut_tail(text, limit, link)


def _where(link: str | None) -> str:
    """Where a reader finds what was cut."""
    return f"[the run]({link})" if link else "the job summary"


def _top_level_details(text: str) -> list[tuple[int, int]]:
    """(start, end) of each outermost <details>...</details> block; nesting is counted."""
    spans: list[tuple[int, int]] = []
    depth = 0
    start = 0
    for tag in _DETAILS_TAG.finditer(text):
        if not tag.group(1):
            if depth == 0:
                start = tag.start()
            depth += 1
        elif depth > 0:
            depth -= 1
            if depth == 0:
                spans.append((start, tag.end()))
    return spans


def _collapse_details(text: str, limit: int, link: str | None) -> str:
    where = _where(link)
    for start, end in reversed(_top_level_details(text)):
        summary = _SUMMARY.search(text, start, end)
        title = summary.group(1).strip() if summary else "Details"
        stub = (
            f"<details><summary>{title}</summary>\n\n"
            f"Omitted to fit a comment; see {where}.\n\n</details>"
        )
        text = text[:start] + stub + text[end:]
        if github_length(text) <= limit:
            break
    return text


def _cut_tail(text: str, limit: int, link: str | None) -> str:
    where = _where(link)
    notice = f"\n\n*Report truncated to fit a comment; the full report is in {where}.*"
    lines = text.split("\n")
    kept: list[str] = []
    used = github_length(notice)
    for line in lines:
        used += github_length(line) + 1
        if used > limit:
            break
        kept.append(line)
    while len(kept) > 1 and github_length(_with_closers(kept, notice)) > limit:
        kept.pop()
    result = _with_closers(kept, notice)
    if not kept or github_length(result) > limit:
        # Even the first line is too long: cut inside it rather than drop the verdict.
        result = lines[0][: max(0, limit - github_length(notice))] + notice
    return result


def _with_closers(lines: list[str], notice: str) -> str:
    return "\n".join(lines) + _closers(lines) + notice


def _closers(lines: list[str]) -> str:
    """Markup that closes a code fence or <details> block the cut left open."""
    closing = ""
    fence = _open_fence(lines)
    if fence:
        closing += "\n" + fence
    joined = "\n".join(lines)
    unclosed = len(re.findall(r"<details\b", joined, re.I)) - len(
        re.findall(r"</details>", joined, re.I)
    )
    closing += "\n</details>" * max(0, unclosed)
    return closing


def _open_fence(lines: list[str]) -> str | None:
    """The fence string left open at the end of `lines`, if the cut fell inside a code block."""
    open_fence: str | None = None
    for line in lines:
        match = _FENCE.match(line)
        if not match:
            continue
        fence = match.group(1)
        if open_fence is None:
            open_fence = fence
        elif fence[0] == open_fence[0] and len(fence) >= len(open_fence):
            open_fence = None
    return open_fence
