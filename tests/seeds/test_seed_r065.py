"""R065's validation test (002_c9f069b5d3e1edc3.txt, "Validação"), imports from pepperflow.

As written in the seed, on asyncio and trio, against an in-process and a
SQLite provider (the seed's ``RedisStorageProvider({"host", "port"})`` is
phase 2 of issue #16, as is its ``StorageMonitor``, which waits for
``pepperflow.sinks`` metrics: the monitor's two lines are left out). Beyond
the seed, the test checks what each step left behind.
"""

from __future__ import annotations

import pytest

from pepperflow import ItemNotFound, StorageQuery, UnifiedStorageManager
from tests.support.storage_providers import Providers

pytestmark = pytest.mark.anyio


async def test_storage_system(providers: Providers) -> None:
    # Setup
    manager = UnifiedStorageManager()

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

    # Beyond the seed.
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
