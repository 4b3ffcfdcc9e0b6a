"""MetricsRegistry: the fast path, buckets, collect callbacks, the checks."""

from __future__ import annotations

import math

import pytest

from pepperflow import MetricSample, MetricsRegistry
from pepperflow.sinks.metrics import DURATION_BUCKETS


def test_a_series_seen_before_adds_up_whatever_the_order_of_its_labels() -> None:
    metrics = MetricsRegistry()
    for _ in range(3):
        metrics.counter("calls", 1, route="a", method="get")
        metrics.counter("calls", 2, method="get", route="a")
    metrics.gauge("depth", 5, queue="q")
    metrics.gauge("depth", 2, queue="q")
    assert metrics.value("calls", method="get", route="a") == 9
    assert metrics.value("depth", queue="q") == 2
    assert [s.name for s in metrics.samples()] == ["calls", "depth"]


def test_bad_values_are_refused_on_the_fast_path_too() -> None:
    metrics = MetricsRegistry()
    metrics.counter("calls", 1, route="a")
    metrics.gauge("depth", 1)
    metrics.histogram("latency", 0.1)
    with pytest.raises(ValueError, match="only goes up"):
        metrics.counter("calls", -1, route="a")
    for bad in (math.nan, True, "1"):
        with pytest.raises(TypeError, match="must be a number"):
            metrics.counter("calls", bad, route="a")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="must be a number"):
            metrics.gauge("depth", bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="must be a number"):
            metrics.histogram("latency", bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be a str"):
        metrics.counter("calls", 1, route=1)  # type: ignore[arg-type]
    assert metrics.value("calls", route="a") == 1
    assert metrics.value("depth") == 1
    assert metrics.samples("latency")[0].count == 1


def test_a_histogram_counts_its_observations_in_buckets() -> None:
    metrics = MetricsRegistry(buckets=[0.1, 1.0])
    for value in (0.05, 0.1, 0.5, 2.0, 3.0):
        metrics.histogram("latency", value, op="get")
    (sample,) = metrics.samples("latency")
    assert sample.bounds == (0.1, 1.0)
    assert sample.bucket_counts == (2, 1, 2)  # <= 0.1, <= 1.0, above
    assert (sample.count, sample.value, sample.minimum, sample.maximum) == (5, 5.65, 0.05, 3.0)


def test_the_default_buckets_span_store_operations() -> None:
    assert MetricsRegistry().buckets == DURATION_BUCKETS
    assert DURATION_BUCKETS[0] == 0.000001 and DURATION_BUCKETS[-1] == 10.0
    assert list(DURATION_BUCKETS) == sorted(DURATION_BUCKETS)


@pytest.mark.parametrize("buckets", [[], [1.0, 0.5], [1.0, 1.0], [1.0, math.inf]])
def test_buckets_must_be_finite_and_increasing(buckets: list[float]) -> None:
    with pytest.raises(ValueError, match="increasing order"):
        MetricsRegistry(buckets=buckets)


def test_a_collector_is_read_at_collection_and_adds_to_its_series() -> None:
    metrics = MetricsRegistry()
    reads: list[int] = []

    def collect() -> list[MetricSample]:
        reads.append(1)
        return [MetricSample("queue_depth", "gauge", {"queue": "a"}, len(reads))]

    remove = metrics.add_collector(collect, {"queue_depth": "gauge"})
    metrics.gauge("queue_depth", 10, queue="a")
    assert reads == []  # nothing is read when something is recorded
    assert metrics.value("queue_depth", queue="a") == 11  # 10 recorded + 1 collected
    assert metrics.samples("other") == [] and len(reads) == 1
    remove()
    assert metrics.value("queue_depth", queue="a") == 10
    with pytest.raises(ValueError, match="is a gauge"):
        metrics.add_collector(collect, {"queue_depth": "counter"})


def test_a_name_is_one_kind() -> None:
    metrics = MetricsRegistry()
    metrics.counter("x", 1)
    with pytest.raises(ValueError, match="'x' is a counter"):
        metrics.gauge("x", 1)
    assert metrics.kinds() == {"x": "counter"}
