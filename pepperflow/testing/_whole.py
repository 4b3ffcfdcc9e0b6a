"""Store checks of the store as a whole: snapshot and restore (through
msgpack), ``statistics()`` and a closed store.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import msgspec

from ..stores.base import Snapshot
from ._support import MakeStore, Recorder, all_items, raises


async def check_snapshot_restore(make_store: MakeStore) -> None:
    async with make_store() as source, make_store() as target:
        await source.set_many({"a": 1, "b": {"x": [1, 2]}})
        await source.set("c", "t", ttl=60, metadata={"m": 1})
        await source.set("a", 2)
        snap = await source.snapshot()
        assert snap.seq >= 4
        assert {e.key for e in snap.entries} == {"a", "b", "c"}
        wire = msgspec.msgpack.encode(snap)
        snap = msgspec.msgpack.decode(wire, type=Snapshot)
        await target.set("a", "old")
        await target.set("zombie", 1)
        recorder = Recorder.on(target)
        await target.restore(snap)
        assert await all_items(target) == {"a": 2, "b": {"x": [1, 2]}, "c": "t"}
        c_entry = await target.entry("c")
        assert c_entry is not None and c_entry.metadata == {"m": 1}
        assert c_entry.expires_at is not None
        a_entry = await target.entry("a")
        assert a_entry is not None and a_entry.version == 2, "versions stay monotonic"
        assert ("DeleteChange", "zombie") in recorder.kinds()
        with raises(TypeError, "restore() of a non-Snapshot"):
            await target.restore({"a": 1})  # type: ignore[arg-type]


async def check_statistics(make_store: MakeStore) -> None:
    async with make_store() as store:
        before = store.statistics()
        assert before.keys == 0
        await store.set("a", 1, ttl=60)
        await store.set("b", 1)
        with store.subscribe(None, lambda change: None):
            stats = store.statistics()
            assert stats.subscriptions == before.subscriptions + 1
        assert stats.keys == 2
        assert stats.ttl_keys == 1
        assert stats.expiry_errors == 0, "a healthy store failed to commit an expiry"
        assert stats.seq > before.seq
        assert stats.running
        with raises(AttributeError, "assigning to a field of statistics(), a frozen record"):
            stats.keys = 5  # type: ignore[misc]


async def check_closed_store(make_store: MakeStore) -> None:
    store = make_store()
    async with store:
        await store.set("k", 1)
    assert store.statistics().closed
    operations: dict[str, Callable[[], Awaitable[object]]] = {
        "get": lambda: store.get("k"),
        "set": lambda: store.set("k", 2),
        "delete": lambda: store.delete("k"),
        "exists": lambda: store.exists("k"),
    }
    for name, operation in operations.items():
        with raises(anyio.ClosedResourceError, f"{name}() on a closed store"):
            await operation()
    with raises(anyio.ClosedResourceError, "subscribe() on a closed store"):
        store.subscribe(None, lambda change: None)
    await store.aclose()  # idempotent
