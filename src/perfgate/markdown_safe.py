"""Escaping of untrusted text before it goes into GitHub-flavoured markdown.

Endpoint names, branch names, error messages and response snippets all come from the code
under test or from the pull request's author. Reports and PR comments show them inside tables
and prose, so each one must stay inert text: it must not break a table, open HTML, start a link,
ping a user or team, or cross-reference another issue.
"""

from __future__ import annotations

import re

# Zero-width joiner: invisible when rendered, but it stops GitHub from linking `@name` and `#123`.
ZWJ = "\u200d"

# Characters with meaning in GFM inline syntax. `<`, `>` and `&` become entities below instead,
# because a backslash does not stop raw HTML in every renderer.
_BACKSLASHED = re.compile(r"([\\`*_\[\]|~!])")
_MENTION = re.compile(r"@(?=[A-Za-z0-9])")
_ISSUE_REF = re.compile(r"#(?=\d)")
_NEWLINES = re.compile(r"\r\n|\r|\n")


def escape_markdown(text: str) -> str:
    """Return `text` as one line of inert markdown, safe in prose and in table cells.

    Newlines become `<br>` so a value cannot end a table row or start a block (a heading, a
    list, a code fence). The result is meant for inline use; put long output in `fenced()`.
    """
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    escaped = _BACKSLASHED.sub(r"\\\1", escaped)
    escaped = _MENTION.sub("@" + ZWJ, escaped)
    escaped = _ISSUE_REF.sub("#" + ZWJ, escaped)
    return _NEWLINES.sub("<br>", escaped)


def fenced(text: str, info: str = "") -> str:
    """Wrap `text` (a log tail, a response body) in a code fence it cannot close early.

    The fence is one backtick longer than the longest run of backticks inside the text.
    Mentions are inert inside code, so only the fence needs care.
    """
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    body = text if text.endswith("\n") else text + "\n"
    return f"{fence}{info}\n{body}{fence}"
