"""Provider records: the store holds the only copy, transitions are compare-and-set."""

from __future__ import annotations

from typing import Any

import anyio
import msgspec
import pytest

from pepperflow import (
    MemoryProvider,
    ProviderManager,
    ProviderMetadata,
    ProviderRecord,
    ProviderStatus,
    ProviderType,
)
from pepperflow.providers._records import RecordBook
from pepperflow.stores import Entry, MemoryStore

pytestmark = pytest.mark.anyio


def scratch(name: str = "scratch") -> MemoryProvider[None]:
    return MemoryProvider(ProviderMetadata(name, ProviderType.MEMORY), None)


async def test_a_record_edited_in_the_store_is_what_the_manager_reads_and_keeps() -> None:
    async with ProviderManager() as providers:
        await providers.register(scratch())
        key = providers.key("scratch")
        value = await providers.store.get(key)
        assert value is not None
        await providers.store.set(key, msgspec.structs.replace(value, labels={"owner": "ops"}))
        record = await providers.status("scratch")
        assert record is not None and record.labels == {"owner": "ops"}
        await providers.reload_provider("scratch")  # a transition edits what the store holds
        record = await providers.status("scratch")
        assert record is not None
        assert (record.status, record.labels) == (ProviderStatus.READY, {"owner": "ops"})


async def test_a_record_deleted_from_the_store_is_written_afresh_by_the_next_transition() -> None:
    times = iter(range(100, 200))
    async with ProviderManager(clock=lambda: float(next(times))) as providers:
        await providers.register(scratch())
        await providers.store.delete(providers.key("scratch"))
        assert await providers.status("scratch") is None
        assert "scratch" in providers  # the provider object is still registered
        await providers.reload_provider("scratch")
        record = await providers.status("scratch")
        assert record is not None and record.status is ProviderStatus.READY
        assert record.registered_at > 103  # dated when it was written again


async def test_an_update_that_loses_a_race_is_applied_to_the_winners_record() -> None:
    store = MemoryStore("records")
    book = RecordBook(store, "p:", clock=lambda: 1.0)
    metadata = ProviderMetadata("a", ProviderType.CUSTOM)
    await book.open(metadata)
    read = store.entry
    raced = False

    async def entry_then_another_writer(key: str) -> Entry[Any] | None:
        nonlocal raced
        found = await read(key)
        if not raced:  # another writer commits between this read and the write
            raced = True
            assert found is not None
            await store.set(key, {**found.value, "healthy": True})
        return found

    store.entry = entry_then_another_writer  # type: ignore[method-assign]
    await book.move(metadata, ProviderStatus.READY)
    record = await book.get("a")
    assert record is not None and (record.status, record.healthy) == (ProviderStatus.READY, True)
    entry = await read("p:a")
    assert entry is not None and entry.version == 3  # open, the other writer, the retry
    await store.aclose()


async def test_a_health_check_and_a_reload_at_once_keep_both_changes() -> None:
    reloading = anyio.Event()
    checked = anyio.Event()

    class Slow(MemoryProvider[None]):
        async def reload(self) -> None:
            reloading.set()
            await checked.wait()  # the health check writes while this reload runs
            await super().reload()

    async def ping(provider: Any) -> None:
        await reloading.wait()

    async with ProviderManager() as providers:
        await providers.register(Slow(ProviderMetadata("s", ProviderType.MEMORY), None), ping=ping)
        async with anyio.create_task_group() as tg:
            tg.start_soon(providers.reload_provider, "s")

            async def check() -> None:
                await providers.check_health()
                checked.set()

            tg.start_soon(check)
        record = await providers.status("s")
        assert record is not None
        assert (record.status, record.healthy, record.error) == (ProviderStatus.READY, True, None)


async def test_records_are_provider_records_in_the_managers_store() -> None:
    async with ProviderManager() as providers:
        assert providers.store.codec.value_type is ProviderRecord
        await providers.register(scratch())
        value = await providers.store.get("provider:scratch")
        assert type(value) is ProviderRecord and value.status is ProviderStatus.READY
        assert ProviderRecord.from_value(value) is value
        assert await providers.status("scratch") == value


async def test_records_are_plain_dicts_in_an_untyped_store_of_the_application() -> None:
    async with MemoryStore("app") as store, ProviderManager(store) as providers:
        await providers.register(scratch())
        value = await store.get("provider:scratch")
        assert isinstance(value, dict) and value["status"] == "ready"
        record = ProviderRecord.from_value(value)
        assert msgspec.to_builtins(record) == value
        assert await providers.status("scratch") == record


async def test_a_store_of_another_type_is_refused() -> None:
    with pytest.raises(
        TypeError, match="type str; the records need a store made with type=ProviderRecord"
    ):
        ProviderManager(MemoryStore("app", type=str))
