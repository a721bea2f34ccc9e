"""Workflow commands, step outputs and budget lines: what the runner reads from perfgate."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from perfgate.github.runner import annotation, budget_line, group, write_outputs

CONFIG = """\
app:
  target: app:create_app()
endpoints:
  - name: health
    path: /health
  - name: items
    path: /items
budgets:
  default:
    p95_ms: 100
    regression: 10%
  endpoints:
    items:
      p50_ms: 5
"""


def test_annotation_escapes_message_and_properties(capsys: pytest.CaptureFixture[str]) -> None:
    annotation("error", "50% slower\r\n::warning::fake", file="a,b:c.yaml", line=3, title="t:1")
    out = capsys.readouterr().out
    assert (
        out == "::error file=a%2Cb%3Ac.yaml,line=3,title=t%3A1::50%25 slower%0D%0A::warning::fake\n"
    )


def test_group_closes_even_on_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(RuntimeError), group("setup\nx"):
        raise RuntimeError
    assert capsys.readouterr().out == "::group::setup%0Ax\n::endgroup::\n"


def test_outputs_use_a_delimiter_no_value_contains(tmp_path: Path) -> None:
    path = tmp_path / "out"
    write_outputs(str(path), {"report": "line 1\nghadelimiter_x\nline 3", "n": "2"})
    text = path.read_text()
    found = dict(
        (m.group(1), m.group(3))
        for m in re.finditer(r"^(\w+)<<(\S+)\n(.*?)\n\2$", text, re.M | re.S)
    )
    assert found == {"report": "line 1\nghadelimiter_x\nline 3", "n": "2"}
    write_outputs(None, {"a": "b"})  # outside Actions: nothing to do


@pytest.mark.parametrize(
    "endpoint, metric, line",
    [
        ("items", "p50_ms", 14),  # the endpoint's own budget for that metric
        ("items", "p95_ms", 13),  # the endpoint's override block
        ("health", "p95_ms", 10),  # inherited from budgets.default
        ("health", "median", 4),  # no budget key: where the endpoint is named
        ("GET /nowhere", "median", None),
    ],
)
def test_budget_line(tmp_path: Path, endpoint: str, metric: str, line: int | None) -> None:
    config = tmp_path / "thresholds.yaml"
    config.write_text(CONFIG)
    assert budget_line(config, endpoint, metric) == line


def test_budget_line_without_a_readable_file(tmp_path: Path) -> None:
    assert budget_line(tmp_path / "missing.yaml", "items") is None
    (tmp_path / "bad.yaml").write_text("a: [unclosed")
    assert budget_line(tmp_path / "bad.yaml", "items") is None
