"""MemoryManager: named stores, a default, every operation by store, clear errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any

import pytest

from pepperflow import (
    LocalMemoryStore,
    MemoryEntry,
    MemoryManager,
    MemoryStore,
    PepperflowError,
    UnknownStore,
)

pytestmark = pytest.mark.anyio


class DictMemory(MemoryStore[str]):
    """A user's own implementation of the protocol (no ttl), to plug into a manager."""

    def __init__(self) -> None:
        self.data: dict[str, MemoryEntry[str]] = {}

    async def get(self, key: str) -> MemoryEntry[str] | None:
        return self.data.get(key)

    async def set(
        self,
        key: str,
        value: str,
        ttl: timedelta | float | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self.data[key] = MemoryEntry(key, value, None, metadata)

    async def delete(self, key: str) -> bool:
        return self.data.pop(key, None) is not None

    async def exists(self, key: str) -> bool:
        return key in self.data

    async def _keys(self, pattern: str | None) -> AsyncIterator[str]:
        for key in list(self.data):
            if pattern is None or key.startswith(pattern):
                yield key

    def scan(self, pattern: str | None = None, batch_size: int = 100) -> AsyncIterator[str]:
        return self._keys(pattern)

    async def clear(self, pattern: str | None = None) -> int:
        keys = [key async for key in self._keys(pattern)]
        for key in keys:
            del self.data[key]
        return len(keys)


async def test_operations_go_to_the_default_store_or_the_one_named() -> None:
    manager = MemoryManager[str]()
    local = LocalMemoryStore[str]()
    mine = DictMemory()
    manager.register_store("local", local, default=True)
    manager.register_store("mine", mine)
    await manager.set("k", "default", metadata={"m": 1})
    await manager.set("k", "named", store="mine")
    at_default = await manager.get("k")
    at_named = await manager.get("k", store="mine")
    assert at_default is not None and at_default.value == "default"
    assert at_default.metadata == {"m": 1}
    assert at_named is not None and at_named.value == "named"
    assert await manager.exists("k") and await manager.exists("k", store="mine")
    await manager.set("t", "x", ttl=timedelta(seconds=60))
    t = await manager.get("t")
    assert t is not None and t.expires_at is not None
    assert sorted([key async for key in manager.scan()]) == ["k", "t"]
    assert [key async for key in manager.scan("k", 10, store="mine")] == ["k"]
    assert await manager.delete("k", store="mine") is True
    assert await manager.delete("k", store="mine") is False
    assert await manager.clear("t") == 1
    assert await manager.clear(store="mine") == 0
    assert await manager.clear() == 1
    assert await local.exists("k") is False


async def test_the_registry_lists_replaces_and_forgets_stores() -> None:
    manager: MemoryManager[int] = MemoryManager()
    assert (manager.stores, manager.default_store) == ({}, None)
    first, second = LocalMemoryStore[int](name="1"), LocalMemoryStore[int](name="2")
    manager.register_store("first", first)
    assert manager.default_store is None, "a default only when asked for"
    manager.register_store("second", second, default=True)
    assert manager.stores == {"first": first, "second": second}
    manager.stores.clear()  # a copy
    assert manager.get_store() is second
    assert manager.get_store("first") is first
    assert manager.unregister_store("second") is second
    assert manager.default_store is None
    assert manager.stores == {"first": first}
    manager.register_store("second", second, default=True)
    assert repr(manager) == "<MemoryManager stores=['first', 'second'] default='second'>"


async def test_unknown_stores_and_no_default_are_clear_errors() -> None:
    manager: MemoryManager[int] = MemoryManager()
    with pytest.raises(UnknownStore, match="no store given and no default store") as caught:
        await manager.get("k")
    assert caught.value.name is None and caught.value.known == []
    manager.register_store("b", LocalMemoryStore[int]())
    manager.register_store("a", LocalMemoryStore[int]())
    with pytest.raises(UnknownStore, match="registered: 'a', 'b'"):
        await manager.set("k", 1)
    with pytest.raises(UnknownStore, match="no memory store named 'c'") as named:
        await manager.set("k", 1, store="c")
    assert named.value.name == "c" and named.value.known == ["a", "b"]
    for call in (
        lambda: manager.get("k", store="c"),
        lambda: manager.delete("k", store="c"),
        lambda: manager.exists("k", store="c"),
        lambda: manager.clear(store="c"),
    ):
        with pytest.raises(UnknownStore):
            await call()
    with pytest.raises(UnknownStore):
        manager.scan(store="c")
    with pytest.raises(UnknownStore):
        manager.unregister_store("c")
    assert issubclass(UnknownStore, ValueError) and issubclass(UnknownStore, PepperflowError)


async def test_bad_registrations_are_refused() -> None:
    manager: MemoryManager[int] = MemoryManager()
    manager.register_store("a", LocalMemoryStore[int]())
    with pytest.raises(ValueError, match="'a' is already registered"):
        manager.register_store("a", LocalMemoryStore[int]())
    with pytest.raises(ValueError, match="non-empty str"):
        manager.register_store("", LocalMemoryStore[int]())
    with pytest.raises(TypeError, match=r"expected a pepperflow\.MemoryStore"):
        manager.register_store("b", {"not": "a store"})  # type: ignore[arg-type]
    assert list(manager.stores) == ["a"]


async def test_one_store_may_serve_several_managers() -> None:
    shared = LocalMemoryStore[str]()
    one, two = MemoryManager[str](), MemoryManager[str]()
    one.register_store("s", shared, default=True)
    two.register_store("s", shared, default=True)
    await one.set("k", "v")
    entry = await two.get("k")
    assert entry is not None and entry.value == "v"
