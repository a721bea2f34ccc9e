"""The first stored check reads as advice: one stored run cannot judge small changes, and the
verdict line says what it can see and what to do, instead of listing every check's power."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from perfgate.cli.main import main


def test_the_first_check_against_one_stored_run_says_what_would_detect_what(
    tiny_config: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tiny_config()
    out = tmp_path / "out"
    assert main(["baseline", "-c", str(config), "--out", str(out)]) == 0
    capsys.readouterr()
    status = main(["check", "-c", str(config), "--out", str(out)])
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert status in (0, 1), results["notes"]
    verdict = printed.splitlines()[0]
    # The terminal does not list the checks the advice covers either.
    assert "underpowered: detects only changes above" not in printed
    assert "check(s) this history cannot judge (see above)" in printed
    assert "with 1 stored run, only changes of about " in verdict, printed
    assert "`perfgate check --against <base ref>`" in verdict
    assert "record 2 more runs on main (`perfgate baseline`)" in verdict
    report = (out / "report.md").read_text()
    head = report[: report.index("<details>")]
    assert head.startswith("## " + verdict)
    # The checks the advice covers are counted once, not listed one by one.
    assert "inconclusive only because this history cannot detect" in head
    assert "underpowered: detects only changes above" not in head
    assert "Some checks are underpowered" not in head  # said once, in the verdict line
    timing = [c for c in results["checks"] if c["metric"] in ("median", "p95")]
    assert timing and all(c["kind"] == "relative" and c["mde"] > 0.10 for c in timing)


MISSING = """\
app:
  target: "tiny:create_app()"
  workers: 1
endpoints:
  - {name: health, path: /health}
  - {name: gone, path: /gone}
profile: {warmup: 2, samples: 40, trials: 2}
load: {concurrency: [2], duration_s: 0.5, warmup_s: 0.1}
budgets:
  default: {error_rate: 1%}
"""


def test_an_error_rate_failure_names_the_status_and_reads_as_a_percent(
    tiny_config: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tiny_config(text=MISSING)
    out = tmp_path / "out"
    assert main(["check", "-c", str(config), "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    gone = next(
        c for c in results["checks"] if c["endpoint"] == "gone" and c["metric"] == "error_rate"
    )
    assert gone["status"] == "fail"
    assert gone["message"] == "100% of requests failed (404 x 40) > limit 1%"
    assert gone["message"] in printed
    report = (out / "report.md").read_text()
    row = next(line for line in report.splitlines() if "| gone | profile | error_rate" in line)
    assert "| 100% | - | 1% |" in row
    # The load level (about half its requests 404) names its statuses the same way.
    level = next(c for c in results["checks"] if c["phase"] == "load")
    assert "404 x " in level["message"] and "% of requests failed" in level["message"]
    # Throughput and sizes are plain figures, never 1.23e+03.
    assert "e+0" not in report
