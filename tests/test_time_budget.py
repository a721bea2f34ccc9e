"""A time budget per endpoint: a slow endpoint gets the samples its budget pays for, measured
from its own service time in the warm-up, and the report says so."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from perfgate.cli.main import main
from perfgate.config import Endpoint, ProfileConfig
from perfgate.measure.profile import MIN_PER_TRIAL, plan_samples

BUDGETED = """\
app:
  target: "tiny:create_app()"
  workers: 1
  env: {TINY_SLOW_PATH: /items, TINY_SLOW_MS: "20"}
endpoints:
  - {name: health, path: /health}
  - {name: items, path: /items}
  - {name: items-all, path: '/items?all', time_budget_s: 30}
profile: {warmup: 3, samples: 200, trials: 4, time_budget_s: 0.5}
load: {enabled: false}
budgets:
  default: {error_rate: 1%}
"""


def test_a_slow_endpoint_gets_the_samples_its_time_budget_pays_for(
    tiny_config: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tiny_config(text=BUDGETED)
    out = tmp_path / "out"
    assert main(["check", "-c", str(config), "--out", str(out)]) == 0, capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    profiles = {p["name"]: p for p in results["run"]["endpoints"]}
    # 0.5 s at 20 ms a request: about 25 requests instead of 200, still over 4 trials.
    items = profiles["items"]
    assert 4 * MIN_PER_TRIAL <= items["requests"] <= 25
    assert len(items["trial_medians_ms"]) == 4
    assert items["time_budget_s"] == 0.5 and items["warmup_ms"] >= 20
    # A fast endpoint fits its samples in the budget; an endpoint's own budget overrides.
    assert profiles["health"]["requests"] == 200 and profiles["health"]["time_budget_s"] is None
    assert profiles["items-all"]["requests"] == 200
    report = (out / "report.md").read_text()
    assert (
        f"items: {items['requests']} requests, to fit its time budget of 0.5 s at "
        f"{items['warmup_ms']:.1f} ms a request"
    ) in report


def test_the_budget_never_adds_samples_nor_starves_a_trial() -> None:
    endpoint = Endpoint(name="x", path="/x")
    config = ProfileConfig(samples=300, trials=10, time_budget_s=1.0)
    assert plan_samples(endpoint, config, [0.001] * 3).counts == [30] * 10  # fits: unchanged
    assert sum(plan_samples(endpoint, config, [0.010] * 3).counts) == 100
    assert plan_samples(endpoint, config, [2.0] * 3).counts == [MIN_PER_TRIAL] * 10
    off = ProfileConfig(samples=300, trials=10)
    assert plan_samples(endpoint, off, [2.0] * 3).budget_s is None
