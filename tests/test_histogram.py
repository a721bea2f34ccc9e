"""The log-bucket histogram against exact percentiles (numpy's linear definition)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfgate.judge.stats import percentile
from perfgate.loadgen.histogram import BUCKETS, LogHistogram, bucket_middle, bucket_of

# Latencies from 1 µs to 100 s, and percentiles anywhere in [0, 100].
latencies = st.lists(
    st.floats(min_value=1e-6, max_value=100.0, allow_nan=False), min_size=1, max_size=400
)
quantiles = st.floats(min_value=0.0, max_value=100.0, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(values=latencies, q=quantiles)
def test_any_percentile_within_one_percent(values: list[float], q: float) -> None:
    exact = percentile(values, q)
    estimate = LogHistogram.of(values).percentile(q)
    assert abs(estimate - exact) <= 0.01 * exact + 1e-9


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.integers(min_value=0, max_value=10**13), min_size=1, max_size=200),
    q=quantiles,
)
def test_integer_nanoseconds_across_magnitudes(values: list[int], q: float) -> None:
    histogram = LogHistogram()
    for value in values:
        histogram.record_ns(value)
    exact = percentile([float(v) for v in values], q) / 1e9
    assert abs(histogram.percentile(q) - exact) <= 0.01 * exact + 1e-9


@settings(max_examples=100, deadline=None)
@given(first=latencies, second=latencies)
def test_merge_equals_recording_everything(first: list[float], second: list[float]) -> None:
    merged = LogHistogram.of(first)
    merged.merge(LogHistogram.of(second))
    together = LogHistogram.of(first + second)
    assert merged.counts == together.counts
    assert merged.count == together.count == len(first) + len(second)
    assert merged.max() == together.max() == pytest.approx(max(first + second), abs=1e-9)


@given(value=st.integers(min_value=0, max_value=2**48 - 1))
def test_bucket_middle_is_within_0_4_percent(value: int) -> None:
    middle = bucket_middle(bucket_of(value))
    assert abs(middle - value) <= value / 256 + 0.5


def test_extremes_are_exact() -> None:
    histogram = LogHistogram.of([0.0123456, 0.5, 3.21987])
    assert histogram.percentile(0) == pytest.approx(0.0123456, abs=1e-9)
    assert histogram.percentile(100) == pytest.approx(3.21987, abs=1e-9)
    assert histogram.max() == pytest.approx(3.21987, abs=1e-9)


def test_memory_does_not_grow_with_the_number_of_values() -> None:
    histogram = LogHistogram()
    for i in range(200_000):
        histogram.record((i % 5000 + 1) * 1e-5)
    histogram.record(10**6)  # far beyond any timeout: clamped into the last bucket
    assert len(histogram.counts) == BUCKETS
    assert histogram.count == 200_001


def test_empty_histogram_refuses_percentiles() -> None:
    with pytest.raises(ValueError, match="empty"):
        LogHistogram().percentile(50)
    with pytest.raises(ValueError, match="between 0 and 100"):
        LogHistogram.of([1.0]).percentile(101)
