"""Store checks of reads, writes, values and versions: get/set/delete,
values that round-trip, entry bookkeeping, compare-and-set (alone and
raced by tasks) and the ``*_many`` operations.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

import anyio
import anyio.lowlevel

from .._errors import VersionConflict
from ..stores.base import Entry
from ._support import MakeStore, Recorder, raises


async def check_basic_operations(make_store: MakeStore) -> None:
    async with make_store() as store:
        assert await store.get("missing") is None
        assert await store.get("missing", "fallback") == "fallback"
        assert not await store.exists("k")
        assert await store.set("k", "v1") == 1
        assert await store.get("k") == "v1"
        assert await store.exists("k")
        assert await store.set("k", "v2") == 2
        assert await store.get("k") == "v2"
        assert await store.delete("k") is True
        assert await store.delete("k") is False
        assert await store.get("k") is None
        assert await store.set("k", "again") == 1, "a re-created key starts at version 1"
        await store.set("none", None)
        assert await store.exists("none"), "a key set to None exists"
        assert await store.get("none", "fallback") is None


async def check_value_round_trip(make_store: MakeStore) -> None:
    values: dict[str, Any] = {
        "str": "héllo ✓",
        "empty": "",
        "int": -(2**63),
        "big": 2**64 - 1,
        "float": 1.5,
        "bool": True,
        "bytes": b"\x00\xff",
        "list": [1, "two", [3.0], None],
        "dict": {"a": {"b": [1, 2]}, "c": None},
    }
    async with make_store() as store:
        for key, value in values.items():
            await store.set(key, value)
        for key, value in values.items():
            got = await store.get(key)
            assert got == value and type(got) is type(value), (key, got)


async def check_entry_bookkeeping(make_store: MakeStore) -> None:
    async with make_store() as store:
        assert await store.entry("k") is None
        await store.set("k", 1, metadata={"source": "test"})
        first = await store.entry("k")
        assert isinstance(first, Entry)
        assert (first.key, first.value, first.version) == ("k", 1, 1)
        assert first.metadata == {"source": "test"}
        assert first.expires_at is None
        assert first.created_at == first.updated_at
        await anyio.sleep(0.002)
        await store.set("k", 2, ttl=timedelta(seconds=30))
        second = await store.entry("k")
        assert second is not None
        assert second.version == 2
        assert second.created_at == first.created_at, "created_at is the key's creation"
        assert second.updated_at > first.updated_at
        assert second.metadata is None, "a set replaces the metadata"
        assert second.expires_at is not None
        assert 29 < second.expires_at - second.updated_at <= 30.001


async def check_compare_and_set(make_store: MakeStore) -> None:
    async with make_store() as store:
        feed = Recorder.on(store)
        assert await store.set("k", "a", if_version=0) == 1
        with raises(VersionConflict, "set(if_version=0) of an existing key") as conflict:
            await store.set("k", "b", if_version=0)
        exc = conflict.value
        assert (exc.key, exc.expected, exc.actual) == ("k", 0, 1)
        assert "'k'" in str(exc)
        assert await store.get("k") == "a", "a failed compare-and-set stores nothing"
        assert await store.set("k", "b", if_version=1) == 2
        for wrong in (1, 3):
            with raises(VersionConflict, f"delete(if_version={wrong}) at version 2"):
                await store.delete("k", if_version=wrong)
        assert await store.delete("k", if_version=2) is True
        assert feed.kinds() == [("SetChange", "k"), ("SetChange", "k"), ("DeleteChange", "k")]
        for bad in (-1, 1.0, "1"):
            with raises(ValueError, f"set(if_version={bad!r})"):
                await store.set("k", "x", if_version=bad)  # type: ignore[arg-type]


async def check_concurrent_compare_and_set(make_store: MakeStore) -> None:
    """Tasks incrementing one counter with compare-and-set lose no update."""
    tasks, rounds = 8, 10

    async with make_store() as store:
        await store.set("counter", 0)

        async def increment_once() -> None:
            """Read, yield to the others, then compare-and-set; retry on a conflict."""
            while True:
                entry = await store.entry("counter")
                assert entry is not None
                await anyio.lowlevel.checkpoint()  # let the others interleave
                with contextlib.suppress(VersionConflict):
                    await store.set("counter", entry.value + 1, if_version=entry.version)
                    return

        async def increment() -> None:
            for _ in range(rounds):
                await increment_once()

        async with anyio.create_task_group() as tg:
            for _ in range(tasks):
                tg.start_soon(increment)
        assert await store.get("counter") == tasks * rounds


async def check_many(make_store: MakeStore) -> None:
    async with make_store() as store:
        assert await store.get_many([]) == {}
        await store.set_many({"a": 1, "b": [2], "c": {"x": 3}})
        await store.set_many([("d", 4)], metadata={"batch": 1})
        assert await store.get_many(["a", "b", "c", "d", "missing"]) == {
            "a": 1,
            "b": [2],
            "c": {"x": 3},
            "d": 4,
        }
        entry = await store.entry("d")
        assert entry is not None and entry.metadata == {"batch": 1}
        await store.set_many({"a": 10})
        entry = await store.entry("a")
        assert entry is not None and entry.version == 2
