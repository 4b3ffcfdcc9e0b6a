"""Managers take the application's registry as ``metrics=`` too."""

from __future__ import annotations

import pytest

from pepperflow import (
    DefaultResourceManager,
    MemoryProvider,
    MetricsRegistry,
    ProviderManager,
    ProviderMetadata,
    ProviderMonitor,
    ProviderType,
    ResourceMetrics,
)

pytestmark = pytest.mark.anyio


async def test_a_provider_manager_records_into_the_registry_passed_as_metrics() -> None:
    metrics = MetricsRegistry()
    meta = ProviderMetadata(name="cache", type=ProviderType.MEMORY, version="1")
    async with ProviderManager(metrics=metrics) as providers:
        await providers.register(MemoryProvider(meta, None))
    labels = {"component": "provider", "provider": "cache", "type": "memory"}
    assert metrics.total("pepperflow_operations", outcome="ok", **labels) == 2  # in and out


async def test_a_provider_manager_takes_a_monitor_or_metrics_not_both() -> None:
    metrics = MetricsRegistry()
    with pytest.raises(TypeError, match="not both"):
        ProviderManager(monitor=ProviderMonitor(metrics), metrics=metrics)
    with pytest.raises(TypeError, match="must be a MetricsSink"):
        ProviderManager(metrics=object())  # type: ignore[arg-type]


async def test_a_resource_manager_takes_the_registry_itself() -> None:
    metrics = MetricsRegistry()
    async with DefaultResourceManager(metrics=metrics) as resources:
        assert isinstance(resources.metrics, ResourceMetrics)
        assert resources.metrics.sink is metrics
        await resources.acquire("db:1")
        assert metrics.value("pepperflow_active_resources", kind="db") == 1
        await resources.release("db:1")
    assert metrics.value("pepperflow_resources_acquired", kind="db") == 1
    assert metrics.value("pepperflow_resources_released", kind="db") == 1
    assert metrics.value("pepperflow_active_resources", kind="db") == 0
