"""R084's validation test (003_1a0fcc7761d11711.txt, "Validação"), imports from pepperflow.

The seed leaves TestMemoryProvider, TestStorageProvider, MemoryConfig and
StorageConfig to the test; they are defined here on the seed's hooks
(``_initialize_store``/``_cleanup_store``, ``_initialize_storage``/
``_cleanup_storage``). R084's storage provider kind is ``StoreProvider`` in
pepperflow (``StorageProvider`` is R065's). Beyond the seed, the test checks
what each step did.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from pepperflow import (
    MemoryProvider,
    MetricsRegistry,
    ProviderManager,
    ProviderMetadata,
    ProviderMonitor,
    ProviderStatus,
    ProviderType,
    StoreProvider,
)
from pepperflow.stores import MemoryStore

pytestmark = pytest.mark.anyio


@dataclass
class MemoryConfig:
    name: str
    enabled: bool


@dataclass
class StorageConfig:
    name: str
    enabled: bool


class TestMemoryProvider(MemoryProvider[MemoryConfig]):
    __test__ = False  # a provider, not a pytest test class

    async def _initialize_store(self) -> None:
        self._store = MemoryStore(self.config.name)

    async def _cleanup_store(self) -> None:
        assert self._store is not None
        await self._store.aclose()


class TestStorageProvider(StoreProvider[StorageConfig]):
    __test__ = False

    async def _initialize_storage(self) -> None:
        self._storage = MemoryStore(self.config.name)

    async def _cleanup_storage(self) -> None:
        assert self._storage is not None
        await self._storage.aclose()


async def test_provider_system() -> None:
    # Setup
    manager = ProviderManager()
    monitor = ProviderMonitor()

    # Create memory provider
    memory_metadata = ProviderMetadata(
        name="test_memory",
        type=ProviderType.MEMORY,
        description="Test memory provider",
        version="1.0.0",
        capabilities=["store", "search"],
        labels={"env": "test"},
    )

    memory_config = MemoryConfig(name="test", enabled=True)

    memory_provider = TestMemoryProvider(memory_metadata, memory_config)

    # Create storage provider
    storage_metadata = ProviderMetadata(
        name="test_storage",
        type=ProviderType.STORAGE,
        description="Test storage provider",
        version="1.0.0",
        capabilities=["store", "retrieve"],
        labels={"env": "test"},
    )

    storage_config = StorageConfig(name="test", enabled=True)

    storage_provider = TestStorageProvider(storage_metadata, storage_config)

    # Register providers
    await manager.register(memory_provider)
    await manager.register(storage_provider)
    assert memory_provider.store is not None and storage_provider.storage is not None

    # Test operations
    providers = manager.get_providers_by_type(ProviderType.MEMORY)
    assert len(providers) == 1
    assert providers[0].metadata.name == "test_memory"

    providers = manager.get_providers_by_capability("store")
    assert len(providers) == 2

    # Test reload
    store_before = memory_provider.store
    await manager.reload_provider("test_memory")
    assert memory_provider.store is not None and memory_provider.store is not store_before
    assert store_before.statistics().closed

    # Test unregister
    storage = storage_provider.storage
    await manager.unregister("test_storage")
    assert manager.get_provider("test_storage") is None
    assert storage.statistics().closed and storage_provider.storage is None
    record = await manager.status("test_storage")
    assert record is not None and record.status is ProviderStatus.CLOSED

    # Test monitoring
    await monitor.record_operation("register", "memory", True, 0.001, name="test_memory")
    assert isinstance(monitor.metrics, MetricsRegistry)
    labels = {"operation": "register", "type": "memory", "name": "test_memory"}
    assert monitor.metrics.value("provider_operations", success="true", **labels) == 1
    [duration] = [s for s in monitor.metrics.samples() if s.name == "provider_duration"]
    assert (duration.count, duration.value) == (1, 0.001)

    await manager.aclose()
    assert memory_provider.store is None
