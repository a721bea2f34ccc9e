from __future__ import annotations

from pathlib import Path

import pytest

from perfgate.config import load_config
from perfgate.errors import ConfigError

MINIMAL = """\
app:
  target: "tiny:create_app()"
endpoints:
  - name: health
    path: /health
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "thresholds.yaml"
    path.write_text(text)
    return path


def error_for(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_minimal_config_gets_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert config.endpoints[0].method == "GET"
    assert config.endpoints[0].expect_status == [200]
    assert config.budgets.default.regression == pytest.approx(0.10)
    assert config.folder == tmp_path.resolve()
    assert len(config.digest) == 16


def test_the_shipped_thresholds_file_is_valid() -> None:
    config = load_config(Path(__file__).resolve().parents[1] / "thresholds.yaml")
    assert config.app.target == "examples.softfactory.app:create_app()"
    assert {e.name for e in config.endpoints} >= {"health", "chef-list", "products"}


def test_percentages_and_endpoint_overrides_merge(tmp_path: Path) -> None:
    text = (
        MINIMAL
        + """\
budgets:
  default: {regression: 15%, p95_ms: 50, error_rate: 0.02}
  endpoints:
    health: {p95_ms: 5}
"""
    )
    budget = load_config(write(tmp_path, text)).budgets.for_endpoint("health")
    assert budget.p95_ms == 5
    assert budget.regression == pytest.approx(0.15)
    assert budget.error_rate == pytest.approx(0.02)


def test_unknown_key_names_the_closest_valid_key(tmp_path: Path) -> None:
    message = error_for(tmp_path, MINIMAL + "profile: {sampels: 10}\n")
    assert "profile.sampels" in message
    assert "samples" in message
    assert str(tmp_path) in message


def test_unknown_key_inside_an_endpoint_names_the_endpoint(tmp_path: Path) -> None:
    message = error_for(tmp_path, MINIMAL.replace("path: /health", "path: /health\n    metod: GET"))
    assert "endpoints[health].metod" in message
    assert "method" in message


def test_malformed_yaml_gives_the_line(tmp_path: Path) -> None:
    message = error_for(tmp_path, MINIMAL + "profile: [unclosed\n")
    assert "line 6" in message or "line 7" in message
    assert "malformed YAML" in message


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ("profile: {samples: 0}", "profile.samples = 0"),
        ("load: {duration_s: -1}", "load.duration_s = -1"),
        ("load: {concurrency: []}", "load.concurrency"),
        ("budgets: {default: {regression: ten}}", "budgets.default.regression = 'ten'"),
        ("budgets: {endpoints: {nope: {p95_ms: 3}}}", "unknown endpoint(s) nope"),
    ],
)
def test_bad_values_name_key_and_value(tmp_path: Path, extra: str, fragment: str) -> None:
    assert fragment in error_for(tmp_path, MINIMAL + extra + "\n")


def test_duplicate_endpoint_names_are_refused(tmp_path: Path) -> None:
    text = MINIMAL + "  - name: health\n    path: /again\n"
    assert "repeated: health" in error_for(tmp_path, text)


def test_exactly_one_way_to_run_the_app(tmp_path: Path) -> None:
    both = MINIMAL.replace("app:\n", "app:\n  url: http://127.0.0.1:1\n")
    assert "exactly one of" in error_for(tmp_path, both)
    assert "{port}" in error_for(tmp_path, MINIMAL.replace("target:", "command:"))


def test_missing_file_and_wrong_top_level(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.yaml")
    assert "expected a mapping" in error_for(tmp_path, "- just\n- a list\n")
