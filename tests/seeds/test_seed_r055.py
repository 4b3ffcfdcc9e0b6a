"""R055's validation test (001_4863867ff6c7580a.txt, "Validação"), imports from pepperflow.

As written in the seed, on asyncio and trio: ``asyncio.sleep(1.1)`` is
``anyio.sleep(1.1)``. Beyond the seed, the test checks what each step left
behind.
"""

from __future__ import annotations

from datetime import timedelta

import anyio
import pytest

from pepperflow import LocalMemoryStore, MemoryManager

pytestmark = pytest.mark.anyio


async def test_memory_system() -> None:
    # Setup
    manager = MemoryManager[str]()
    local_store = LocalMemoryStore[str]()
    manager.register_store("local", local_store, default=True)

    # Test basic operations
    await manager.set("test", "value")
    entry = await manager.get("test")
    assert entry is not None
    assert entry.value == "value"

    # Test TTL
    await manager.set("temp", "value", ttl=timedelta(seconds=1))
    entry = await manager.get("temp")
    assert entry is not None
    await anyio.sleep(1.1)
    entry = await manager.get("temp")
    assert entry is None

    # Test scanning
    await manager.set("prefix:1", "value1")
    await manager.set("prefix:2", "value2")
    keys = []
    async for key in local_store.scan("prefix:"):
        keys.append(key)
    assert len(keys) == 2

    # Beyond the seed.
    assert sorted(keys) == ["prefix:1", "prefix:2"]
    assert await local_store.exists("temp") is False
    assert local_store.store.statistics().expired == 1
    assert await manager.clear("prefix:") == 2
    await local_store.aclose()
