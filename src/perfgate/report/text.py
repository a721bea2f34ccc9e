"""Untrusted text (endpoint names, paths, SQL, messages from the app) made inert in markdown.

Kept apart from report.py so that every module writing markdown escapes the same way.
"""

from __future__ import annotations

import re


def cell(text: object) -> str:
    """Make untrusted text safe in a table cell or prose: no HTML, no table break, no link (nor
    a bare URL that GitHub would turn into one), no mention, no issue reference, one line.
    Entities rather than backslashes where a renderer might ignore them."""
    value = str(text).replace("\r", " ").replace("\n", " ")
    # A zero-width space keeps @someone from pinging, #123 (or owner/repo#123) from linking to
    # and cross-referencing an issue, and scheme://host or www.host from becoming a link. Before the
    # entities below, whose "&#" it must not split.
    value = re.sub(r"([@#])(?=\w)", "\\1\u200b", value).replace("://", ":\u200b//")
    value = re.sub(r"\b(www)\.", "\\1\u200b.", value, flags=re.IGNORECASE)
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    value = value.replace("[", "&#91;").replace("]", "&#93;")  # no [text](javascript:...) links
    return value.replace("|", "\\|").replace("`", "\\`")


def plain(value: float) -> str:
    """A figure without scientific notation: 17503 req/s, 12.3 ms, 0.0123; never 1.75e+04."""
    size = abs(value)
    if size >= 100 or value == int(value):
        return f"{value:.0f}"
    if size >= 0.001:
        return f"{value:.3g}"
    return f"{value:.6f}".rstrip("0")


def percent(fraction: float) -> str:
    """A rate as the config writes it: 0.01 -> 1%, 0.0123 -> 1.23%, 0 -> 0%."""
    return f"{fraction * 100:.3g}%"
