"""Property tests: the config loader, the results loader and the statistics, on inputs nobody
would write by hand."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perfgate.config import Config, load_config
from perfgate.errors import ConfigError, ResultsError
from perfgate.judge.stats import compare_trials, holm, percentile
from perfgate.results import BaselineFile, load_baseline

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
names = st.text("abcdefghijklmnopqrstuvwxyz_-", min_size=1, max_size=12)
positive = st.floats(min_value=0.01, max_value=500, allow_nan=False)


@st.composite
def valid_configs(draw: st.DrawFn) -> dict[str, Any]:
    endpoint_names = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    endpoints = [
        {
            "name": n,
            "path": "/" + draw(st.text("abc/?=&%0123456789", max_size=10)),
            "method": draw(st.sampled_from(["GET", "POST", "head", "Delete"])),
            "expect_status": draw(st.lists(st.integers(100, 599), min_size=1, max_size=3)),
            **draw(
                st.sampled_from(
                    [
                        {},
                        {"json": {"q": "{token}", "n": [1, 2]}},
                        {"form": {"a": "b c"}, "params": {"id": [1, "x"], "k": [3, 4]}},
                        {"body": '{"raw": {token}}', "headers": {"X-T": "{token}"}},
                    ]
                )
            ),
        }
        for n in endpoint_names
    ]
    trials = draw(st.integers(1, 20))
    config: dict[str, Any] = {
        "app": draw(
            st.sampled_from(
                [
                    {"target": "pkg.web:app", "workers": 3},
                    {"command": "./serve --port {port}"},
                    {"url": "http://127.0.0.1:9"},
                ]
            )
        ),
        "endpoints": endpoints,
        "profile": {
            "warmup": draw(st.integers(0, 100)),
            "samples": draw(st.integers(max(5, trials), 2000)),
            "trials": trials,
            "timeout_s": draw(positive),
        },
        "load": {
            "enabled": draw(st.booleans()),
            "concurrency": draw(st.lists(st.integers(1, 10_000), min_size=1, max_size=4)),
            "duration_s": draw(positive),
            "warmup_s": draw(st.floats(0, 10)),
        },
        "budgets": {
            "default": {"p95_ms": draw(positive), "regression": draw(st.sampled_from(["5%", 0.2]))},
            "endpoints": {endpoint_names[0]: {"p50_ms": draw(positive)}},
        },
        "compare": {"alpha": draw(st.floats(0.001, 0.4)), "strict": draw(st.booleans())},
        "login": {"path": "/login", "json": {"p": "x"}, "extract": {"token": "a.b.0"}},
    }
    return config


# One scratch folder for every example, removed when the tests end.
_SCRATCH = tempfile.TemporaryDirectory(prefix="perfgate-prop-")


def _write(text: str | bytes) -> Path:
    path = Path(_SCRATCH.name) / "thresholds.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def _strip(config: Config) -> dict[str, Any]:
    # As a file would say it (`json:`, not the field's name), without what no file sets.
    return config.model_dump(mode="json", by_alias=True, exclude={"source", "digest", "secrets"})


@SETTINGS
@given(valid_configs())
def test_valid_configs_load_and_round_trip(data: dict[str, Any]) -> None:
    config = load_config(_write(yaml.safe_dump(data)))
    assert [e.name for e in config.endpoints] == [e["name"] for e in data["endpoints"]]
    assert config.profile.samples == data["profile"]["samples"]
    assert config.load.concurrency == sorted(set(data["load"]["concurrency"]))
    # What perfgate understood, written back out, reads the same again.
    again = load_config(_write(yaml.safe_dump(_strip(config))))
    assert _strip(again) == _strip(config)


json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


def _loads_or_config_error(path: Path) -> None:
    try:
        load_config(path)
    except ConfigError as exc:
        assert str(path) in str(exc)
        assert "\n" not in str(exc)


@SETTINGS
@given(st.binary(max_size=400))
def test_junk_bytes_only_ever_raise_config_error(junk: bytes) -> None:
    _loads_or_config_error(_write(junk))


@SETTINGS
@given(json_values)
def test_junk_structures_only_ever_raise_config_error(value: object) -> None:
    _loads_or_config_error(_write(yaml.safe_dump(value)))


@SETTINGS
@given(valid_configs(), st.data())
def test_one_damaged_key_only_ever_raises_config_error(
    data: dict[str, Any], draw: st.DataObject
) -> None:
    section = draw.draw(st.sampled_from(["app", "profile", "load", "compare"]))
    key = draw.draw(st.sampled_from(sorted(data[section]) + ["bogus"]))
    data[section][key] = draw.draw(json_values)
    _loads_or_config_error(_write(yaml.safe_dump(data)))


def _valid_baseline_text() -> str:
    example = Path(__file__).parent / "corpus" / "baseline_other_endpoints.json"
    from perfgate.results import SCHEMA_VERSION

    text = example.read_text().replace("__SCHEMA__", str(SCHEMA_VERSION))
    BaselineFile.model_validate_json(text)
    return text


VALID_BASELINE = _valid_baseline_text()


def _loads_or_results_error(text: bytes) -> None:
    path = Path(_SCRATCH.name) / "baseline.json"
    path.write_bytes(text)
    try:
        load_baseline(path)
    except ResultsError as exc:
        assert str(path) in str(exc)


@SETTINGS
@given(st.integers(0, len(VALID_BASELINE)))
def test_truncated_baseline_is_a_results_error(cut: int) -> None:
    _loads_or_results_error(VALID_BASELINE.encode()[:cut])


@SETTINGS
@given(
    st.lists(st.tuples(st.integers(0, len(VALID_BASELINE) - 1), st.binary(max_size=3)), max_size=5)
)
def test_randomly_edited_baseline_is_a_results_error(edits: list[tuple[int, bytes]]) -> None:
    raw = bytearray(VALID_BASELINE.encode())
    for where, junk in edits:
        raw[where : where + len(junk)] = junk
    _loads_or_results_error(bytes(raw))


@SETTINGS
@given(st.data())
def test_a_replaced_value_in_the_baseline_is_a_results_error(draw: st.DataObject) -> None:
    document = json.loads(VALID_BASELINE)
    node: Any = document
    while isinstance(node, dict | list) and node:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        key = draw.draw(st.sampled_from(keys))
        if not isinstance(node[key], dict | list) or draw.draw(st.booleans()):
            node[key] = draw.draw(json_values)
            break
        node = node[key]
    _loads_or_results_error(json.dumps(document).encode())


samples = st.lists(st.floats(0.1, 1000), min_size=2, max_size=30)


@SETTINGS
@given(st.lists(samples, min_size=1, max_size=5), samples, st.booleans(), st.floats(0.01, 0.3))
def test_interval_contains_its_estimate(
    baseline: list[list[float]], current: list[float], worse_up: bool, alpha: float
) -> None:
    estimate = compare_trials(
        baseline, current, higher_is_worse=worse_up, alpha=alpha, noise_floor=0.15
    )
    assert estimate.low <= estimate.ratio * (1 + 1e-9)
    assert estimate.ratio <= estimate.high * (1 + 1e-9)
    assert 0.0 <= estimate.p_worse <= 1.0


@SETTINGS
@given(
    st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50), st.floats(0, 100), st.floats(0, 100)
)
def test_percentiles_are_monotone(values: list[float], q1: float, q2: float) -> None:
    low, high = sorted((q1, q2))
    assert percentile(values, low) <= percentile(values, high)
    assert min(values) <= percentile(values, low) and percentile(values, high) <= max(values)


@SETTINGS
@given(samples, st.integers(1, 5), st.booleans(), st.floats(0.001, 0.4))
def test_a_sample_compared_with_itself_is_never_a_failure(
    trials: list[float], runs: int, worse_up: bool, alpha: float
) -> None:
    estimate = compare_trials(
        [trials] * runs, trials, higher_is_worse=worse_up, alpha=alpha, noise_floor=0.15
    )
    assert math.isclose(estimate.ratio, 1.0, rel_tol=1e-9)
    # Not worse at all: the one-sided p-value is at least one half, never below alpha.
    assert estimate.p_worse >= 0.5 - 1e-9


@SETTINGS
@given(st.lists(st.floats(0, 1), max_size=30))
def test_holm_adjusted_p_is_at_least_the_raw_p(p_values: list[float]) -> None:
    adjusted = holm(p_values)
    assert len(adjusted) == len(p_values)
    for raw, adj in zip(p_values, adjusted, strict=True):
        assert raw <= adj <= 1.0
    # Adjusting keeps the order of the p-values.
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    assert all(adjusted[a] <= adjusted[b] for a, b in zip(order, order[1:], strict=False))
