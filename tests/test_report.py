"""The report: golden markdown files, the HTML page, and hostile text from the app.

Golden files live in tests/golden: `<case>.results.json` (the fixed input) and `<case>.md` (the
expected report). After an intended change to the report, regenerate both with
`PERFGATE_UPDATE_GOLDEN=1 python -m pytest tests/test_report.py` and review the diff.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from perfgate.cli.main import main
from perfgate.hostload import HostLoad, PhaseLoad
from perfgate.judge.diagnose import diagnose
from perfgate.report.charts import baseline_points
from perfgate.report.html import render_html
from perfgate.report.markdown import render_markdown
from perfgate.results import BaselineFile, Check, ResultsFile, load_results, save
from tests.runs import level, profile, run

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("PERFGATE_UPDATE_GOLDEN") == "1"
HOSTILE = "<script>alert(1)</script> [x](javascript:alert(1)) @octocat | `tick`"


# The host during each phase: quiet in the profile, another process busy at c=100.
HOST = HostLoad(phases=[
    PhaseLoad(phase="profile", wall_s=4.2, outside_cores=0.01, steal_share=0.002),
    PhaseLoad(phase="load", concurrency=100, wall_s=5.0, outside_cores=0.93, steal_share=0.004),
])  # fmt: skip


def full() -> ResultsFile:
    endpoints = [
        profile("health", mean_ms=0.8, queries={}, size=16),
        profile("chef-list", mean_ms=38, path="/api/coocook/chefs", size=300_000,
                queries={"SELECT chefs.id FROM chefs ORDER BY chefs.id": 1,
                         "SELECT dishes.id FROM dishes WHERE dishes.chef_id = ?": 40}),
        profile(HOSTILE, mean_ms=3, path="/a?b=1&c=<2>", queries={"SELECT '<b>' | 1": 2}),
    ]  # fmt: skip
    measured = run(endpoints, [level(10, 130), level(50, 135), level(100, 132, success=0.97,
                   errors={"timeout": 16})])  # fmt: skip
    measured = measured.model_copy(update={"instances": 3, "host_load": HOST})
    base = run(endpoints, [level(10, 140), level(50, 142), level(100, 141)])
    checks = [
        Check(endpoint="chef-list", phase="profile", metric="queries_per_request", kind="relative",
              status="fail", current=41, baseline=40, limit=0, change=0.025,
              message="41 statements per request vs 40 in the baseline: more than the allowed "
              "growth of 0 (exact count)"),
        Check(endpoint="chef-list", phase="profile", metric="median", kind="relative",
              status="inconclusive", current=38, baseline=35, limit=0.1, change=0.086,
              ci_low=-0.05, ci_high=0.24, p_value=0.2, message="the interval reaches past the "
              "10% tolerance; not significant enough to fail"),
        Check(endpoint=HOSTILE, phase="profile", metric="p95_ms", kind="absolute", status="pass",
              current=4.5, limit=100, message="4.5 ms <= limit 100 ms"),
    ]  # fmt: skip
    return ResultsFile(
        verdict="fail", checks=checks, baseline_runs=1, run=measured,
        notes=["The baseline holds 1 run(s)."], findings=diagnose(measured),
        baseline_load=baseline_points([base]),
    )  # fmt: skip


def minimal() -> ResultsFile:
    note = "SQL statements are counted only when perfgate runs the app itself (app.target)"
    measured = run([profile("health", mean_ms=1.2)], workers=None, queries_note=note)
    check = Check(endpoint="health", phase="profile", metric="p95_ms", kind="absolute",
                  status="pass", current=1.8, limit=20,
                  message="1.8 ms <= limit 20 ms")  # fmt: skip
    return ResultsFile(verdict="pass", checks=[check], run=measured, notes=["No baseline."])


CASES: dict[str, Callable[[], ResultsFile]] = {"full": full, "minimal": minimal}


@pytest.mark.parametrize("case", sorted(CASES))
def test_markdown_matches_the_golden_file(case: str) -> None:
    source, expected = GOLDEN / f"{case}.results.json", GOLDEN / f"{case}.md"
    if UPDATE:
        save(source, CASES[case]())
        expected.write_text(render_markdown(load_results(source)), encoding="utf-8")
    assert render_markdown(load_results(source)) == expected.read_text(encoding="utf-8")


def test_the_golden_input_is_what_the_builder_makes() -> None:
    # A builder change without regenerating would leave the golden files testing stale data.
    stored = json.loads((GOLDEN / "full.results.json").read_text())
    built = json.loads(full().model_dump_json())
    assert built == stored


def test_report_leads_with_verdict_flagged_checks_and_findings() -> None:
    text = render_markdown(full())
    order = [text.index(s) for s in ("## perfgate: ❌ FAIL", "### What needs a look",
                                      "### Findings", "<details>")]  # fmt: skip
    assert order == sorted(order)
    head = text[: text.index("<details>")]
    assert "queries_per_request" in head and "| +1 | +0 |" in head
    assert (
        "🟧 **HIGH** N+1 queries: one statement runs 40 times in each request (chef-list)" in head
    )
    assert "```mermaid\nxychart-beta" in text and "bar [140, 142, 141]" in text


def test_hostile_app_text_stays_inert_in_markdown() -> None:
    text = render_markdown(full())
    assert "<script>" not in text and "](javascript:" not in text
    assert "@octocat" not in text  # a zero-width space keeps it from pinging anyone
    for line in text.splitlines():
        if "alert(1)" in line and line.startswith("|"):
            assert line.count(" | ") == line.replace("\\|", "").count(" | ")


def test_html_report_is_standalone_with_svg_charts_and_escaped_text() -> None:
    page = render_html(full())
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert page.count("<svg") == 2 and "mermaid" not in page
    assert page.count("<table>") >= 4 and "<details>" in page
    assert "<script" not in page.lower() and "javascript:alert" not in page.replace(
        "javascript:alert(1)) @", ""
    )
    assert 'href="javascript' not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<td>health (GET /x)</td>" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")  # no fetches


def test_report_command_writes_html_and_checks_write_findings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "results.json"
    save(results, full())
    assert main(["report", str(results), "--format", "html"]) == 0
    assert capsys.readouterr().out.startswith("<!DOCTYPE html>")

    config = tmp_path / "thresholds.yaml"
    document = {"app": {"url": "http://127.0.0.1:9"}, "endpoints": [{"name": "x", "path": "/"}]}
    config.write_text(yaml.safe_dump(document))
    baseline = tmp_path / "baseline.json"
    save(baseline, BaselineFile(runs=[full().run]))
    out = tmp_path / "out"
    main(["compare", str(baseline), str(results), "-c", str(config), "--out", str(out)])
    written = json.loads((out / "results.json").read_text())
    kinds = {(f["endpoint"], f["kind"], f["severity"]) for f in written["findings"]}
    assert ("chef-list", "n_plus_one", "HIGH") in kinds
    assert [p["concurrency"] for p in written["baseline_load"]] == [10, 50, 100]
    assert (out / "report.html").read_text().startswith("<!DOCTYPE html>")
