"""R055's memory stores over pepperflow stores: every method, entries, ttl, scan, clear, metrics."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from pepperflow import (
    BaseMemoryStore,
    InvalidKey,
    InvalidPattern,
    InvalidTTL,
    LocalMemoryStore,
    MemoryEntry,
    MemoryStore,
    MetricsRegistry,
    UnencodableValue,
)
from pepperflow.stores import MemoryStore as MemoryBackend
from pepperflow.stores import SqliteStore
from pepperflow.streams import Change, DeleteChange, ExpireChange, SetChange
from tests.support.clock import Clock, at

pytestmark = pytest.mark.anyio


async def keys_of(scan: AsyncIterator[str]) -> list[str]:
    return [key async for key in scan]


async def test_get_returns_an_entry_with_versions_and_times() -> None:
    clock = Clock()
    memory: BaseMemoryStore[str] = BaseMemoryStore(MemoryBackend("m", clock=clock))
    assert await memory.get("k") is None
    await memory.set("k", "v1", metadata={"source": "test"})
    clock.now += 10
    await memory.set("k", "v2", ttl=timedelta(seconds=30))
    entry = await memory.get("k")
    assert entry == MemoryEntry(
        "k",
        "v2",
        at(clock.now + 30),
        {},
        created_at=at(1_700_000_000.0),
        updated_at=at(1_700_000_010.0),
        version=2,
    )
    assert entry is not None and entry.metadata == {}, "a set replaces the metadata"
    await memory.set("other", "v", ttl=5)
    other = await memory.get("other")
    assert other is not None
    assert other.created_at == other.updated_at == at(clock.now)
    assert other.expires_at == at(clock.now + 5)


async def test_ttl_takes_a_timedelta_or_seconds_and_expires_as_a_change() -> None:
    clock = Clock()
    store = MemoryBackend("m", clock=clock)
    changes: list[Change] = []
    store.subscribe(None, changes.append)
    memory: BaseMemoryStore[int] = BaseMemoryStore(store)
    await memory.set("delta", 1, ttl=timedelta(seconds=2))
    await memory.set("seconds", 1, ttl=1.5)
    clock.now += 1.5
    assert await memory.get("seconds") is None
    assert await memory.exists("delta") is True
    clock.now += 0.5
    assert await memory.exists("delta") is False
    assert [type(c) for c in changes] == [SetChange, SetChange, ExpireChange, ExpireChange]
    for ttl in (timedelta(0), -1, "1", float("nan")):
        with pytest.raises(InvalidTTL):
            await memory.set("bad", 1, ttl=ttl)  # type: ignore[arg-type]
    assert await memory.exists("bad") is False


async def test_delete_and_exists() -> None:
    memory: LocalMemoryStore[int] = LocalMemoryStore()
    changes: list[Change] = []
    memory.store.subscribe(None, changes.append)
    await memory.set("k", 1)
    assert await memory.exists("k") is True
    assert await memory.delete("k") is True
    assert await memory.delete("k") is False
    assert await memory.exists("k") is False
    assert [type(c) for c in changes] == [SetChange, DeleteChange]


async def test_scan_follows_the_pattern_rule_in_batches() -> None:
    memory: LocalMemoryStore[int] = LocalMemoryStore()
    for i in range(25):
        await memory.set(f"item:{i}", i)
    await memory.set("items", 0)
    await memory.set("a?b", 0)
    await memory.set("axb", 0)
    assert len(await keys_of(memory.scan())) == 28
    assert len(await keys_of(memory.scan("item:", batch_size=4))) == 25
    assert sorted(await keys_of(memory.scan("item:1?"))) == [f"item:{i}" for i in range(10, 20)]
    assert await keys_of(memory.scan("item:[3]")) == ["item:3"]
    assert sorted(await keys_of(memory.scan("a?b"))) == ["a?b", "axb"]
    assert await keys_of(memory.scan("a\\?b")) == ["a?b"]
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        memory.scan(batch_size=0)
    with pytest.raises(ValueError, match="batch_size"):
        memory.scan(batch_size=2.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidPattern):
        memory.scan("item:[")


async def test_a_scan_skips_keys_that_expire_or_go_during_it() -> None:
    clock = Clock()
    memory: BaseMemoryStore[int] = BaseMemoryStore(MemoryBackend("m", clock=clock))
    await memory.set("a", 1, ttl=1)
    await memory.set("b", 1)
    await memory.set("c", 1)
    scan = memory.scan()
    first = await scan.__anext__()
    clock.now += 2
    await memory.delete("c")
    rest = await keys_of(scan)
    assert [first, *rest] == ["a", "b"]


async def test_clear_returns_the_count_and_emits_the_deletes() -> None:
    memory: LocalMemoryStore[int] = LocalMemoryStore()
    changes: list[Change] = []
    memory.store.subscribe(None, changes.append)
    for key in ("s:1", "s:2", "s:3", "t:1"):
        await memory.set(key, 1)
    assert await memory.clear("s:[12]") == 2
    assert await memory.clear("s:") == 1
    assert await memory.clear("s:") == 0
    assert await memory.clear() == 1
    assert [c.key for c in changes if isinstance(c, DeleteChange)] == ["s:1", "s:2", "s:3", "t:1"]
    with pytest.raises(InvalidPattern):
        await memory.clear("[")


async def test_bad_keys_and_values_raise_and_store_nothing() -> None:
    memory: LocalMemoryStore[Any] = LocalMemoryStore()
    for key in ("", None):
        with pytest.raises(InvalidKey):
            await memory.get(key)  # type: ignore[arg-type]
        with pytest.raises(InvalidKey):
            await memory.set(key, 1)  # type: ignore[arg-type]
        with pytest.raises(InvalidKey):
            await memory.delete(key)  # type: ignore[arg-type]
        with pytest.raises(InvalidKey):
            await memory.exists(key)  # type: ignore[arg-type]
    with pytest.raises(UnencodableValue):
        await memory.set("k", object())
    with pytest.raises(UnencodableValue):
        await memory.set("k", 1, metadata={"x": object()})
    assert await keys_of(memory.scan()) == []


async def test_metrics_go_to_the_registry_passed_in() -> None:
    metrics = MetricsRegistry()
    memory: LocalMemoryStore[int] = LocalMemoryStore(name="mem", metrics=metrics)
    await memory.set("k", 1)
    await memory.get("k")
    await memory.get("none")
    await memory.delete("k")
    await memory.delete("k")
    with pytest.raises(InvalidTTL):
        await memory.set("k", 1, ttl=-1)
    with pytest.raises(InvalidPattern):
        await memory.clear(3)  # type: ignore[arg-type]

    counted = {
        (sample.labels["operation"], sample.labels["outcome"]): sample.value
        for sample in metrics.samples()
        if sample.name == "pepperflow_operations"
        and sample.labels == {**sample.labels, "component": "memory", "store": "mem"}
    }
    assert counted == {
        ("set", "ok"): 1,
        ("set", "InvalidTTL"): 1,
        ("get", "ok"): 1,
        ("get", "not_found"): 1,
        ("delete", "ok"): 1,
        ("delete", "not_found"): 1,
        ("clear", "InvalidPattern"): 1,
    }


async def test_an_expired_entry_reads_as_absent_without_deadlock() -> None:
    memory: LocalMemoryStore[int] = LocalMemoryStore()
    await memory.set("k", 1, ttl=0.01)
    await anyio.sleep(0.03)
    with anyio.fail_after(1):  # the seed's get deadlocked here
        assert await memory.get("k") is None
        assert await memory.get("k") is None
    assert memory.store.statistics().expired == 1


async def test_local_store_runs_its_expiry_task_within_async_with() -> None:
    async with LocalMemoryStore[int](name="run") as memory:
        assert memory.name == "run"
        assert memory.store.statistics().running
        async with memory.store.changes() as feed:
            await memory.set("k", 1, ttl=0.05)
            with anyio.fail_after(5):
                await feed.__anext__()
                change = await feed.__anext__()
        assert isinstance(change, ExpireChange)
    assert memory.closed and memory.store.statistics().closed
    with pytest.raises(anyio.ClosedResourceError):
        await memory.get("k")
    with pytest.raises(ValueError, match="non-empty str"):
        LocalMemoryStore(name="")


async def test_base_memory_store_over_any_store_or_url(tmp_path: Path) -> None:
    store = MemoryBackend("app")
    over_store: BaseMemoryStore[int] = BaseMemoryStore(store)
    await over_store.set("k", 1)
    assert await store.get("k") == 1
    await over_store.aclose()
    assert not store.statistics().closed, "the application's store stays open"
    url = f"sqlite:///{tmp_path / 'mem.db'}?namespace=notes"
    async with BaseMemoryStore[str](url) as over_url:
        assert isinstance(over_url.store, SqliteStore) and over_url.name == "notes"
        await over_url.set("n", "persisted")
    async with BaseMemoryStore[str](tmp_path / "mem.db") as over_path:
        assert await over_path.get("n") is None, "another namespace ('default')"
    lazy: BaseMemoryStore[str] = BaseMemoryStore(url)
    entry = await lazy.get("n")  # opens on first use
    assert entry is not None and entry.value == "persisted"
    assert [k async for k in lazy.scan()] == ["n"]
    await lazy.aclose()
    with pytest.raises(TypeError, match="must be a pepperflow store"):
        BaseMemoryStore(None)  # type: ignore[call-overload]


async def test_a_scan_opens_the_store_on_its_first_step(tmp_path: Path) -> None:
    memory: BaseMemoryStore[int] = BaseMemoryStore(tmp_path / "scan.db")
    assert [k async for k in memory.scan()] == []
    assert memory.store.statistics().running
    await memory.aclose()


def test_memory_entry_defaults_are_per_entry_and_like_the_seeds() -> None:
    first: MemoryEntry[int] = MemoryEntry("a", 1)
    time.sleep(0.002)
    second: MemoryEntry[int] = MemoryEntry("b", 2, metadata=None)
    assert second.created_at > first.created_at
    assert first.updated_at == first.created_at
    assert first.created_at.tzinfo is UTC
    assert (first.metadata, first.expires_at, first.version) == ({}, None, 1)
    assert first != second
    assert first == MemoryEntry("a", 1, created_at=first.created_at)
    assert (first == "a") is False
    assert "key='a'" in repr(first) and "version=1" in repr(first)
    with pytest.raises(TypeError):
        hash(first)


def test_the_memory_store_protocol_is_abstract_and_implemented() -> None:
    with pytest.raises(TypeError, match="abstract"):
        MemoryStore()  # type: ignore[abstract]
    assert issubclass(LocalMemoryStore, MemoryStore)
    assert issubclass(BaseMemoryStore, MemoryStore)
    assert "LocalMemoryStore over <MemoryStore 'local'>" in repr(LocalMemoryStore())
