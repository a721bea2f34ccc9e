"""Untrusted text (endpoint names, paths, SQL, messages from the app) made inert in markdown.

Kept apart from report.py so that every module writing markdown escapes the same way.
"""

from __future__ import annotations

import re


def cell(text: object) -> str:
    """Make untrusted text safe in a table cell or prose: no HTML, no table break, no link,
    no mention, one line. Entities rather than backslashes where a renderer might ignore them."""
    value = str(text).replace("\r", " ").replace("\n", " ")
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    value = value.replace("[", "&#91;").replace("]", "&#93;")  # no [text](javascript:...) links
    value = value.replace("|", "\\|").replace("`", "\\`")
    return re.sub(r"@(?=\w)", "@\u200b", value)
