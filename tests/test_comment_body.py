"""Fitting reports under GitHub's limit, and escaping untrusted text for markdown."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from perfgate.github.fit import (
    COMMENT_LIMIT,
    comment_body,
    fit,
    github_length,
    run_url,
)

VERDICT = "## perfgate: ❌ FAIL (2 fail, 9 pass)"
LINK = run_url("https://github.com/", "acme/shop", "99")


def details(title: str, size: int) -> str:
    return f"<details><summary>{title}</summary>\n\n" + "x\n" * size + "</details>"


def test_a_report_that_fits_is_left_alone() -> None:
    report = f"{VERDICT}\n\n| a | b |\n"
    assert fit(report, 1000) == report


def test_details_go_first_last_one_first() -> None:
    report = "\n\n".join([VERDICT, details("Early", 300), "| table |", details("Late", 300)])
    trimmed = fit(report, github_length(report) - 500)
    assert trimmed.startswith(VERDICT) and "| table |" in trimmed
    assert "<summary>Early</summary>\n\nx\n" in trimmed  # the first one survived
    assert "<summary>Late</summary>\n\nOmitted to fit a comment" in trimmed


def test_nested_details_are_collapsed_as_one_block() -> None:
    inner = details("Inner", 10)
    report = (
        f"{VERDICT}\n\n<details><summary>Outer</summary>\n{inner}\n" + "y\n" * 500 + "</details>"
    )
    trimmed = fit(report, 300)
    assert trimmed.count("<details>") == trimmed.count("</details>") == 1
    assert "Outer" in trimmed and "Inner" not in trimmed


def test_the_tail_is_cut_at_a_line_and_open_markup_is_closed() -> None:
    report = VERDICT + "\n\n```text\n" + "a log line\n" * 5000 + "```\n\nafter"
    trimmed = fit(report, 2000, LINK)
    assert github_length(trimmed) <= 2000
    assert trimmed.startswith(VERDICT)
    assert trimmed.count("```") % 2 == 0, "the cut code block must be closed"
    assert trimmed.endswith(f"the full report is in [the run]({LINK}).*")


def test_a_giant_first_line_is_cut_inside_rather_than_dropped() -> None:
    trimmed = fit("## perfgate: FAIL " + "z" * 5000, 300)
    assert trimmed.startswith("## perfgate: FAIL zzz") and github_length(trimmed) <= 300


def test_comment_body_keeps_marker_and_link_and_the_limit() -> None:
    report = VERDICT + "\n" + "\n".join(f"| /endpoint/{i} | 12 ms |" for i in range(10_000))
    body = comment_body("<!-- perfgate:k -->", report, LINK)
    assert github_length(body) <= COMMENT_LIMIT and len(body) <= COMMENT_LIMIT
    assert body.startswith("<!-- perfgate:k -->\n" + VERDICT)
    assert body.rstrip().endswith(f"[Full perfgate run]({LINK})")
    assert LINK == "https://github.com/acme/shop/actions/runs/99"


@given(st.text(max_size=3000), st.integers(min_value=200, max_value=2000))
def test_fit_always_fits_and_keeps_the_start(report: str, limit: int) -> None:
    trimmed = fit(report, limit)
    assert github_length(trimmed) <= limit
    first = report.split("\n", 1)[0]
    assert trimmed.startswith(first[:50]) or github_length(report) <= limit
