"""Store checks of rejected input: bad keys, bad TTLs and values or
metadata that cannot be encoded raise the store's own errors, and a
rejected write stores nothing and emits no change.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from .._errors import InvalidKey, InvalidTTL, UnencodableValue
from ..stores.base import Store
from ._support import MakeStore, Recorder, raises


def _keyed_operations(store: Store[Any]) -> dict[str, Callable[[Any], Awaitable[object]]]:
    """Every operation that takes a key, by name, as a function of the key."""
    return {
        "set": lambda k: store.set(k, 1),
        "get": lambda k: store.get(k),
        "exists": lambda k: store.exists(k),
        "delete": lambda k: store.delete(k),
        "entry": lambda k: store.entry(k),
        "set_many": lambda k: store.set_many({k: 1}),
        "get_many": lambda k: store.get_many([k]),
    }


async def check_bad_keys(make_store: MakeStore) -> None:
    async with make_store() as store:
        feed = Recorder.on(store)
        for bad in ("", 5, None, b"k", ("a",)):
            for name, operation in _keyed_operations(store).items():
                with raises(InvalidKey, f"{name}() of key {bad!r}") as caught:
                    await operation(bad)
                assert isinstance(caught.value, ValueError)
        assert feed.changes == [], "a rejected write emits nothing"
        assert [key async for key in store.scan()] == []


async def check_bad_ttl(make_store: MakeStore) -> None:
    async with make_store() as store:
        for bad in (0, -1, math.nan, math.inf, timedelta(0), "5", True):
            with raises(InvalidTTL, f"set(ttl={bad!r})", match="'k'"):
                await store.set("k", 1, ttl=bad)  # type: ignore[arg-type]
            with raises(InvalidTTL, f"set_many(ttl={bad!r})"):
                await store.set_many({"a": 1}, ttl=bad)  # type: ignore[arg-type]
        assert not await store.exists("k")
        assert not await store.exists("a")


async def check_unencodable_values(make_store: MakeStore) -> None:
    async with make_store() as store:
        feed = Recorder.on(store)
        await store.set("k", "kept")
        for bad in (object(), lambda: 1, 2**64, -(2**63) - 1, [1, object()], {"k": object()}):
            with raises(UnencodableValue, f"set() of value {bad!r}", match="'k'") as caught:
                await store.set("k", bad)
            assert isinstance(caught.value, TypeError)
        for bad_meta in ({"m": object()}, {1: "x"}, ["not", "a", "mapping"]):
            with raises(UnencodableValue, f"set() with metadata {bad_meta!r}"):
                await store.set("k", 1, metadata=bad_meta)
        with raises(UnencodableValue, "set_many() with one bad value"):
            await store.set_many({"a": 1, "b": object()})
        assert await store.get("k") == "kept"
        assert not await store.exists("a"), "set_many stores nothing when one value is bad"
        assert len(feed.changes) == 1
