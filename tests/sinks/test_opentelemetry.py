"""The OpenTelemetry bridge, read back with the SDK's InMemoryMetricReader."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    Gauge,
    HistogramDataPoint,
    InMemoryMetricReader,
    NumberDataPoint,
    Sum,
)

from pepperflow import MetricsRegistry, MissingExtra
from pepperflow.sinks.metrics.opentelemetry import OpenTelemetryBridge
from pepperflow.stores import MemoryStore

pytestmark = pytest.mark.anyio


def _read(reader: InMemoryMetricReader) -> dict[str, Any]:
    data = reader.get_metrics_data()
    assert data is not None
    return {
        metric.name: metric.data
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }


def _points(data: Any) -> dict[tuple[tuple[str, Any], ...], Any]:
    return {tuple(sorted((point.attributes or {}).items())): point for point in data.data_points}


async def test_counters_gauges_and_histograms_reach_the_sdk() -> None:
    metrics = MetricsRegistry(buckets=[0.1, 1.0])
    metrics.counter("requests", 2, route="/a")  # known before the bridge
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    bridge = OpenTelemetryBridge(metrics, provider)
    metrics.gauge("queue_depth", 7)  # a name that appears after it
    for value in (0.05, 0.5, 5.0):
        metrics.histogram("latency_seconds", value, route="/a")
    found = _read(reader)
    requests = found["requests"]
    assert isinstance(requests, Sum) and requests.is_monotonic
    (point,) = requests.data_points
    assert isinstance(point, NumberDataPoint) and point.value == 2
    assert dict(point.attributes or {}) == {"route": "/a"}
    assert isinstance(found["queue_depth"], Gauge)
    assert found["queue_depth"].data_points[0].value == 7
    (histogram,) = found["latency_seconds"].data_points
    assert isinstance(histogram, HistogramDataPoint)
    assert list(histogram.explicit_bounds) == [0.1, 1.0]
    assert list(histogram.bucket_counts) == [1, 1, 1]
    assert (histogram.count, histogram.sum) == (3, 5.55)
    bridge.close()
    metrics.counter("requests", 1, route="/a")
    assert "requests" not in _read(reader)  # closed: no more observations
    provider.shutdown()


async def test_a_stores_figures_are_observed_at_collection() -> None:
    metrics = MetricsRegistry()
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    OpenTelemetryBridge(metrics, provider)
    async with MemoryStore("app", metrics=metrics) as store:
        await store.set("a", 1)
        await store.set("b", 2, ttl=60)
        found = _read(reader)
    labels = (("backend", "memory"), ("store", "app"))
    assert _points(found["pepperflow_store_keys"])[labels].value == 2
    assert _points(found["pepperflow_store_ttl_keys"])[labels].value == 1
    set_labels = tuple(sorted((*labels, ("operation", "set"))))
    sets = _points(found["pepperflow_store_operations"])[set_labels]
    assert sets.value == 2
    (timed,) = found["pepperflow_store_operation_seconds"].data_points
    assert timed.count == 1 and dict(timed.attributes)["outcome"] == "ok"
    provider.shutdown()


def test_without_the_sdk_the_import_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.metrics", None)
    monkeypatch.delitem(sys.modules, "pepperflow.sinks.metrics.opentelemetry")
    with pytest.raises(MissingExtra, match=r"pip install 'pepperflow\[opentelemetry\]'"):
        importlib.import_module("pepperflow.sinks.metrics.opentelemetry")
