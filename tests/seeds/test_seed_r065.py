"""R065's validation test (002_c9f069b5d3e1edc3.txt, "Validação"), imports from pepperflow.

As written in the seed, on asyncio and trio, against an in-process, a
SQLite and a Redis provider (the seed's ``RedisStorageProvider({"host":
..., "port": ...})``, on the session's private server: the ``providers``
fixture), with its ``StorageMonitor``. Beyond the seed, the test checks
what each step left behind.
"""

from __future__ import annotations

import pytest

from pepperflow import (
    ItemNotFound,
    MetricsRegistry,
    StorageMonitor,
    StorageQuery,
    UnifiedStorageManager,
)
from tests.support.storage_providers import Providers

pytestmark = pytest.mark.anyio


async def test_storage_system(providers: Providers) -> None:
    # Setup
    manager = UnifiedStorageManager()
    monitor = StorageMonitor()

    # Register providers
    provider = providers()
    manager.register_provider("test", provider)

    # Test save
    item = await manager.save("test_key", {"value": "test"}, "test", tags={"purpose": "test"})

    assert item.metadata.key == "test_key"
    assert item.data["value"] == "test"
    assert item.metadata.tags["purpose"] == "test"

    # Test load
    loaded = await manager.load("test_key", "test")
    assert loaded.data["value"] == "test"

    # Test search
    query = StorageQuery(content_type="test", tags={"purpose": "test"})

    results = []
    async for result in manager.search(query):
        results.append(result)

    assert len(results) == 1
    assert results[0].item.data["value"] == "test"

    # Test delete
    deleted = await manager.delete("test_key", "test")
    assert deleted

    # Test monitoring
    await monitor.record_operation("test", "save", True)
    await monitor.record_size("test", 1000)

    # Beyond the seed.
    assert isinstance(monitor.metrics, MetricsRegistry)
    assert monitor.metrics.value("storage_size", content_type="test") == 1000
    assert loaded == item
    assert results[0].score == 1.0 and results[0].highlights == []
    assert item.metadata.content_type == "test" and item.metadata.expires_at is None
    assert item.metadata.created_at == item.metadata.updated_at
    with pytest.raises(ItemNotFound, match="test_key"):
        await manager.load("test_key", "test")
    assert [result async for result in manager.search(query)] == []
    assert await manager.delete("test_key", "test") is False
    await manager.cleanup()
    assert provider.closed
