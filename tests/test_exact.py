"""Exact gates: statements per request and response bytes, against budgets and the baseline."""

from __future__ import annotations

from typing import Any

from perfgate.config import Config
from perfgate.judge.gate import judge
from perfgate.results import BaselineFile, Check, EndpointProfile
from tests.runs import profile, run


def _config(default: dict[str, Any] | None = None, **endpoints: dict[str, Any]) -> Config:
    return Config.model_validate(
        {
            "app": {"url": "http://127.0.0.1:1"},
            "endpoints": [{"name": "list", "path": "/list"}],
            "load": {"enabled": False},
            "budgets": {"default": default or {}, "endpoints": endpoints},
        }
    )


def _checks(
    config: Config, current: EndpointProfile, base: EndpointProfile | None = None
) -> dict[str, Check]:
    baseline = BaselineFile(runs=[run([base])]) if base else None
    verdict = judge(config, run([current]), baseline)
    return {
        f"{c.kind}:{c.metric}": c
        for c in verdict.checks
        if c.metric in ("queries_per_request", "bytes")
    }


def test_max_queries_fails_the_n_plus_one_and_passes_its_fix() -> None:
    config = _config(list={"max_queries": 5})
    n_plus_one = profile("list", queries={"SELECT chefs": 1, "SELECT dishes WHERE chef = ?": 40})
    check = _checks(config, n_plus_one)["absolute:queries_per_request"]
    assert (check.status, check.current, check.limit) == ("fail", 41, 5)
    fixed = profile("list", queries={"SELECT chefs": 1, "SELECT dishes WHERE chef IN (?)": 1})
    assert _checks(config, fixed)["absolute:queries_per_request"].status == "pass"


def test_max_queries_without_a_count_is_skipped_not_passed() -> None:
    config = _config(list={"max_queries": 5})
    current = profile("list", queries=None)
    check = judge(config, run([current], queries_note="no SQLAlchemy"), None).checks
    (counted,) = [c for c in check if c.metric == "queries_per_request"]
    assert counted.status == "skipped" and "no SQLAlchemy" in counted.message


def test_one_more_statement_than_the_baseline_fails_by_default() -> None:
    base = profile("list", queries={"SELECT a": 1, "SELECT b": 40})
    grown = profile("list", queries={"SELECT a": 1, "SELECT b": 41})
    check = _checks(_config(), grown, base)["relative:queries_per_request"]
    assert (check.status, check.current, check.baseline) == ("fail", 42, 41)
    same = _checks(_config(), base, base)["relative:queries_per_request"]
    assert same.status == "pass"
    fewer = profile("list", queries={"SELECT a": 1, "SELECT b IN (?)": 1})
    assert _checks(_config(), fewer, base)["relative:queries_per_request"].status == "pass"


def test_allowed_growth_is_a_number_of_statements() -> None:
    base = profile("list", queries={"SELECT a": 3})
    grown = profile("list", queries={"SELECT a": 5})
    assert _checks(_config({"query_growth": 2}), grown, base)[
        "relative:queries_per_request"
    ].status == ("pass")
    assert _checks(_config({"query_growth": 1}), grown, base)[
        "relative:queries_per_request"
    ].status == ("fail")
    assert "relative:queries_per_request" not in _checks(
        _config({"query_growth": None}), grown, base
    )


def test_counting_lost_against_a_counted_baseline_is_visible() -> None:
    base = profile("list", queries={"SELECT a": 3})
    check = _checks(_config(), profile("list", queries=None), base)["relative:queries_per_request"]
    assert check.status == "skipped"
    both_uncounted = _checks(_config(), profile("list"), profile("list"))
    assert "relative:queries_per_request" not in both_uncounted


def test_bytes_budget_and_growth() -> None:
    config = _config({"bytes_growth": "10%"}, list={"max_bytes": 1100})
    checks = _checks(config, profile("list", size=1200), profile("list", size=1000))
    assert checks["absolute:bytes"].status == "fail"
    assert checks["relative:bytes"].status == "fail"
    assert abs((checks["relative:bytes"].change or 0) - 0.2) < 1e-9
    checks = _checks(config, profile("list", size=1050), profile("list", size=1000))
    assert (checks["absolute:bytes"].status, checks["relative:bytes"].status) == ("pass", "pass")
    assert "relative:bytes" not in _checks(_config(), profile("list", size=5000), profile("list"))
