"""ProviderMonitor and the MetricsRegistry it records into."""

from __future__ import annotations

import pytest

from pepperflow import MetricSample, MetricsRegistry, ProviderMonitor, ProviderType

pytestmark = pytest.mark.anyio


def test_counters_gauges_and_histograms_by_name_and_labels() -> None:
    metrics = MetricsRegistry(buckets=[1.0])
    metrics.counter("calls", 1, route="a", method="get")
    metrics.counter("calls", 2, method="get", route="a")  # label order does not matter
    metrics.counter("calls", 5, route="b", method="get")
    metrics.gauge("depth", 3)
    metrics.gauge("depth", 1)
    metrics.histogram("latency", 0.5, route="a")
    metrics.histogram("latency", 1.5, route="a")
    assert metrics.value("calls", route="a", method="get") == 3
    assert metrics.value("calls", route="c", method="get") == 0
    assert metrics.total("calls", method="get") == 8
    assert metrics.value("depth") == 1
    assert metrics.samples() == [
        MetricSample("calls", "counter", {"method": "get", "route": "a"}, 3),
        MetricSample("calls", "counter", {"method": "get", "route": "b"}, 5),
        MetricSample("depth", "gauge", {}, 1),
        MetricSample("latency", "histogram", {"route": "a"}, 2.0, 2, 0.5, 1.5, (1.0,), (1, 1)),
    ]


def test_a_label_may_be_called_name() -> None:
    metrics = MetricsRegistry()
    metrics.counter("ops", 1, name="llm")
    assert metrics.value("ops", name="llm") == 1


@pytest.mark.parametrize(
    ("record", "error", "message"),
    [
        (lambda m: m.counter("c", 1, route=3), TypeError, r"label route=3 must be a str"),
        (lambda m: m.counter("c", -1), ValueError, "only goes up"),
        (lambda m: m.counter("c", "1"), TypeError, "must be a number"),
        (lambda m: m.gauge("c", float("nan")), TypeError, "must be a number"),
        (lambda m: m.gauge("ops", 1), ValueError, "'ops' is a counter"),
    ],
)
def test_bad_records_are_refused(record: object, error: type, message: str) -> None:
    metrics = MetricsRegistry()
    metrics.counter("ops")
    with pytest.raises(error, match=message):
        record(metrics)  # type: ignore[operator]
    assert metrics.samples() == [MetricSample("ops", "counter", {}, 1)]


async def test_record_operation_counts_and_times_successes() -> None:
    metrics = MetricsRegistry()
    monitor = ProviderMonitor(metrics)
    assert monitor.metrics is metrics
    await monitor.record_operation("register", ProviderType.MEMORY, True, 0.25, name="m")
    await monitor.record_operation("register", "memory", False, 0.5, name="m")
    labels = {"operation": "register", "type": "memory", "name": "m"}
    assert metrics.value("provider_operations", success="true", **labels) == 1
    assert metrics.value("provider_operations", success="false", **labels) == 1
    [duration] = [s for s in metrics.samples() if s.name == "provider_duration"]
    assert (duration.count, duration.value, duration.labels) == (1, 0.25, labels)


async def test_record_operation_refuses_bad_input() -> None:
    monitor = ProviderMonitor()
    with pytest.raises(ValueError, match="duration must be seconds >= 0"):
        await monitor.record_operation("register", "memory", True, -1)
    with pytest.raises(TypeError, match="duration must be a number"):
        await monitor.record_operation("register", "memory", True, "fast")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="label name=1 must be a str"):
        await monitor.record_operation("register", "memory", name=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be str"):
        await monitor.record_operation(1, "memory")  # type: ignore[arg-type]
    assert monitor.metrics.samples() == []  # type: ignore[attr-defined]
