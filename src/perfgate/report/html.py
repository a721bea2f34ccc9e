"""The standalone HTML report: the markdown report converted by the markdown package, with each
chart drawn as inline SVG instead of mermaid. One file, no script, nothing fetched.

Safety: untrusted text is escaped by `cell` before it enters the markdown, so the markdown holds
no HTML of the app's making; this module adds only its own fixed tags.
"""

from __future__ import annotations

import markdown

from perfgate.report.charts import Chart, svg
from perfgate.report.markdown import render_markdown
from perfgate.results import ResultsFile

_STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1100px;
       margin: 2em auto; padding: 0 1em; color: #1f2328; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
details { margin: 0.8em 0; border: 1px solid #d0d7de; border-radius: 6px; padding: 0.4em 0.8em; }
summary { cursor: pointer; font-weight: 600; }
code { background: #f6f8fa; padding: 0 3px; }
"""
_TOKEN = "PERFGATECHART{}"


def render_html(results: ResultsFile) -> str:
    charts: list[str] = []

    def placeholder(chart: Chart) -> str:
        charts.append(svg(chart))
        return _TOKEN.format(len(charts) - 1)

    text = render_markdown(results, chart=placeholder)
    # Let the markdown inside <details> be converted too (md_in_html).
    text = text.replace("<details>", '<details markdown="1">')
    body = markdown.markdown(text, extensions=["tables", "fenced_code", "md_in_html"])
    for index, drawing in enumerate(charts):
        token = _TOKEN.format(index)
        # The token is a paragraph of its own; the SVG replaces the whole paragraph.
        body = body.replace(f"<p>{token}</p>", drawing, 1).replace(token, drawing, 1)
    title = f"perfgate report: {results.verdict}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{_STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )
