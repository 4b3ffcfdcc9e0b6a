"""Provider kinds (MemoryProvider, StoreProvider), metadata, health checks, monitoring."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from pepperflow import (
    MemoryProvider,
    MetricsRegistry,
    Provider,
    ProviderManager,
    ProviderMetadata,
    ProviderMonitor,
    ProviderStatus,
    ProviderType,
    StoreProvider,
)
from pepperflow.stores import MemoryStore, SqliteStore
from tests.support.cells import run_cells

pytestmark = pytest.mark.anyio


def meta(name: str, type: ProviderType = ProviderType.STORAGE) -> ProviderMetadata:
    return ProviderMetadata(name, type)


async def test_a_memory_provider_provides_an_in_process_store_named_after_it() -> None:
    async with ProviderManager() as providers:
        provider: MemoryProvider[None] = MemoryProvider(meta("scratch", ProviderType.MEMORY), None)
        assert provider.store is None
        await providers.register(provider)
        store = provider.store
        assert isinstance(store, MemoryStore) and store.name == "scratch"
        await store.set("k", 1)
        await providers.reload_provider("scratch")
        assert provider.store is not store and store.statistics().closed
        assert await provider.store.get("k") is None
    assert provider.store is None


async def test_store_providers_on_sqlite_run_in_their_own_tasks(tmp_path: Path) -> None:
    """Each SqliteStore runs (its own task group) from initialize to cleanup.

    Registered from another task and unregistered first-in first-out, which
    only works because each provider's calls run in the provider's task.
    """
    a = StoreProvider(meta("a"), None, url=f"sqlite:///{tmp_path / 'a.db'}")
    b = StoreProvider(meta("b"), None, url=f"sqlite:///{tmp_path / 'b.db'}")
    async with ProviderManager() as providers:
        async with anyio.create_task_group() as tg:
            tg.start_soon(providers.register, a)
            tg.start_soon(providers.register, b)
        assert isinstance(a.storage, SqliteStore) and isinstance(b.storage, SqliteStore)
        await a.storage.set("k", "from a")
        await b.storage.set("k", "from b")
        await providers.unregister("a")  # the first registered, while b runs
        assert a.storage is None
        await b.storage.set("k2", 2)
    assert b.storage is None
    async with SqliteStore(tmp_path / "a.db") as reopened:
        assert await reopened.get("k") == "from a"


async def test_without_async_with_any_task_registers_and_closes_store_providers(
    tmp_path: Path,
) -> None:
    """Like notebook cells: one task registers, another uses, a third closes."""
    provider = StoreProvider(meta("notes"), None, url=f"sqlite:///{tmp_path / 'notes.db'}")
    providers = ProviderManager()

    async def use() -> None:
        assert isinstance(provider.storage, SqliteStore)
        assert provider.storage.statistics().running, "still open after the first task"
        await provider.storage.set("k", "kept")

    await run_cells(partial(providers.register, provider), use, providers.aclose)
    assert provider.storage is None
    async with SqliteStore(tmp_path / "notes.db") as reopened:
        assert await reopened.get("k") == "kept"


async def test_a_store_provider_needs_a_url_or_its_own_initialize() -> None:
    async with ProviderManager() as providers:
        with pytest.raises(ValueError, match=r"needs url=\.\.\. \(e\.g\. 'sqlite:///app\.db'\)"):
            await providers.register(StoreProvider(meta("nourl"), None))
        assert "nourl" not in providers
        memory = StoreProvider(meta("mem"), None, url="memory://scratch")
        await providers.register(memory)
        assert isinstance(memory.storage, MemoryStore) and memory.storage.name == "scratch"
    with pytest.raises(TypeError, match="url must be a str"):
        StoreProvider(meta("x"), None, url=3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"name": ""}, ValueError, "name must be a non-empty str"),
        ({"type": "memory"}, TypeError, "type must be a ProviderType"),
        ({"version": 1}, TypeError, "version must be a str"),
        ({"capabilities": ("a",)}, TypeError, "capabilities must be a list of str"),
        ({"capabilities": [1]}, TypeError, "capabilities must be a list of str"),
        ({"labels": {"env": 1}}, TypeError, "labels must be a dict of str to str"),
    ],
)
def test_bad_metadata_is_refused(kwargs: dict[str, object], error: type, message: str) -> None:
    fields: dict[str, object] = {"name": "p", "type": ProviderType.CUSTOM, **kwargs}
    with pytest.raises(error, match=message):
        ProviderMetadata(**fields)  # type: ignore[arg-type]


def test_a_provider_needs_provider_metadata() -> None:
    with pytest.raises(TypeError, match="metadata must be a ProviderMetadata"):
        MemoryProvider({"name": "x"}, None)  # type: ignore[arg-type]


class Pinged(Provider[None]):
    def __init__(self, name: str, error: Exception | None = None) -> None:
        super().__init__(ProviderMetadata(name, ProviderType.CUSTOM), None)
        self.error = error
        self.pings = 0

    async def initialize(self) -> None:
        pass

    async def cleanup(self) -> None:
        pass

    async def ping(self) -> None:
        self.pings += 1
        await anyio.lowlevel.checkpoint()
        if self.error is not None:
            raise self.error


class Plain(Pinged):
    ping = None  # type: ignore[assignment]  # no health check of its own


async def test_check_health_pings_each_provider_and_records_the_result() -> None:
    async with ProviderManager() as providers:
        healthy, sick = Pinged("ok"), Pinged("sick", ConnectionError("no route"))
        await providers.register(healthy)
        await providers.register(sick)
        await providers.register(Plain("plain"))
        await providers.register(Plain("checked"), ping=lambda p: None)
        results = await providers.check_health()
        assert results == {"ok": None, "sick": "ConnectionError: no route", "checked": None}
        assert (healthy.pings, sick.pings) == (1, 1)
        records = await providers.statuses()
        assert (records["ok"].healthy, records["ok"].error) == (True, None)
        assert (records["sick"].status, records["sick"].healthy) == (ProviderStatus.READY, False)
        assert records["sick"].error == "ConnectionError: no route"
        assert records["sick"].checked_at is not None
        assert records["plain"].healthy is None and records["plain"].checked_at is None
        sick.error = None
        assert (await providers.check_health())["sick"] is None
        record = await providers.status("sick")
        assert record is not None and (record.healthy, record.error) == (True, None)


async def test_a_ping_given_at_registration_replaces_the_providers_own() -> None:
    calls: list[str] = []

    async def ping(provider: Provider[None]) -> None:
        calls.append(provider.metadata.name)
        raise RuntimeError("custom check failed")

    async with ProviderManager() as providers:
        await providers.register(Pinged("p"), ping=ping)
        assert await providers.check_health() == {"p": "RuntimeError: custom check failed"}
        assert calls == ["p"]


async def test_a_manager_with_a_monitor_records_every_operation() -> None:
    """In the one metrics vocabulary: component "provider", labels provider and type."""
    monitor = ProviderMonitor()
    async with ProviderManager(monitor=monitor) as providers:
        await providers.register(Pinged("a"))
        await providers.reload_provider("a")
        await providers.check_health()
        with pytest.raises(ValueError, match="needs url"):
            await providers.register(StoreProvider(meta("b"), None))
    metrics = monitor.metrics
    assert isinstance(metrics, MetricsRegistry)

    def count(operation: str, outcome: str, provider: str, type: str = "custom") -> float:
        return metrics.value(
            "pepperflow_operations",
            component="provider",
            operation=operation,
            outcome=outcome,
            provider=provider,
            type=type,
        )

    assert count("register", "ok", "a") == 1
    assert count("reload", "ok", "a") == 1
    assert count("ping", "ok", "a") == 1
    assert count("unregister", "ok", "a") == 1
    assert count("register", "ValueError", "b", "storage") == 1
    assert metrics.total("pepperflow_operations") == 5
    durations = {
        (s.labels["operation"], s.count)
        for s in metrics.samples()
        if s.name == "pepperflow_operation_seconds" and s.labels["provider"] == "a"
    }
    assert durations == {("register", 1), ("reload", 1), ("ping", 1), ("unregister", 1)}


async def test_an_unhealthy_check_is_measured_with_its_error_class() -> None:
    metrics = MetricsRegistry()
    async with ProviderManager(monitor=ProviderMonitor(metrics)) as providers:
        await providers.register(Pinged("sick", ConnectionError("no route")))
        assert await providers.check_health() == {"sick": "ConnectionError: no route"}
    labels = {"component": "provider", "provider": "sick", "type": "custom"}
    assert (
        metrics.value(
            "pepperflow_operations", operation="ping", outcome="ConnectionError", **labels
        )
        == 1
    )
    assert (
        metrics.total("pepperflow_operations", outcome="ok", **labels) == 2
    )  # register, unregister
