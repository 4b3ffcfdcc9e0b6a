"""RedisStore with ``index=terms``: the index in Redis, kept by every write script in
the same commit as the entries (sets, set_many, deletes, clear, restore, apply_changes,
the expiry sweep), built at open for a namespace without one, refused to a store
without ``index=``, and equal to one rebuilt from the entries after each step."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest

from pepperflow.stores import Lookup, RedisStore
from pepperflow.streams import DeleteChange, SetChange
from tests.support.redis_index import assert_redis_index_agrees
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.anyio

_namespaces = itertools.count()


def _ns(name: str) -> str:
    return f"index-{name}-{next(_namespaces)}"


def colors(value: Any, metadata: Any) -> list[str]:
    return [f"color:{c}" for c in (metadata or {}).get("colors", [])]


def indexed(server: RedisServer, ns: str, **options: Any) -> RedisStore[Any]:
    return RedisStore(server.url, namespace=ns, index=colors, sweep_interval=0.02, **options)


async def keys(store: RedisStore[Any], **lookup: Any) -> list[str]:
    return [entry.key async for entry in store.find(Lookup(**lookup))]


async def test_every_write_and_the_sweep_keep_the_index(redis_server: RedisServer) -> None:
    redis_server.ensure_running()
    async with indexed(redis_server, _ns("writes")) as store:
        await store.set("a", 1, metadata={"colors": ["red", "blue"]})
        await store.set("b", 2, metadata={"colors": ["red"]}, ttl=0.2)
        await store.set_many({"c": 3, "d": 4}, metadata={"colors": ["green"]}, ttl=30)
        await store.set("a", 5, metadata={"colors": ["blue"]})
        await assert_redis_index_agrees(redis_server, store)
        assert await keys(store, terms=frozenset({"color:red"})) == ["b"]
        assert await keys(store, terms=frozenset({"color:blue"})) == ["a"]
        await wait_until(lambda: store.statistics().expired == 1, "b's expiry, swept")
        assert await keys(store, terms=frozenset({"color:red"})) == []
        await assert_redis_index_agrees(redis_server, store)
        snapshot = await store.snapshot()
        assert await store.delete("a")
        assert await store.clear("c") == 1
        await assert_redis_index_agrees(redis_server, store)
        assert await keys(store) == ["d"]
        await store.restore(snapshot)
        await assert_redis_index_agrees(redis_server, store)
        assert await keys(store, order_by="key") == ["a", "c", "d"]
        source = SetChange(
            store="x",
            key="e",
            value=9,
            metadata={"colors": ["red"]},
            seq=1,
            version=1,
            committed_at=1.0,
            created_at=1.0,
        )
        await store.apply_changes(
            [source, DeleteChange(store="x", key="d", version=1, seq=2, committed_at=1.0)]
        )
        await assert_redis_index_agrees(redis_server, store)
        assert await keys(store, terms=frozenset({"color:red"})) == ["e"]
        assert await keys(store, order_by="key") == ["a", "c", "e"]


async def test_find_answers_bounds_patterns_and_order(redis_server: RedisServer) -> None:
    redis_server.ensure_running()
    async with indexed(redis_server, _ns("find")) as store:
        for key in ("doc:1", "doc:2", "img:1", "doc:3", "dob"):
            await store.set(key, key, metadata={"colors": ["red"] if "1" in key else []})
        await store.set("doc:2", "again", ttl=60, metadata={"colors": ["red"]})
        created = {e.key: e.created_at for e in (await store.snapshot()).entries}
        third = datetime.fromtimestamp(created["doc:3"], UTC)
        assert await keys(store, pattern="doc:") == ["doc:1", "doc:2", "doc:3"]
        assert await keys(store, pattern="do?*", order_by="key", descending=True) == [
            "doc:3",
            "doc:2",
            "doc:1",
            "dob",
        ]
        assert await keys(store, created_after=third) == ["doc:3", "dob"]
        red = frozenset({"color:red"})
        assert await keys(store, created_before=third, terms=red) == ["doc:1", "doc:2", "img:1"]
        assert await keys(store, expires_after=third) == ["doc:2"]
        assert await keys(store, terms=frozenset({"color:red"}), order_by="updated_at") == [
            "doc:1",
            "img:1",
            "doc:2",
        ]
        assert await keys(store, order_by="expires_at", offset=1, limit=2) == ["dob", "doc:1"]


async def test_a_namespace_with_entries_gets_its_index_at_open(redis_server: RedisServer) -> None:
    redis_server.ensure_running()
    ns = _ns("build")
    async with RedisStore(redis_server.url, namespace=ns) as plain:
        await plain.set("a", 1, metadata={"colors": ["red"]})
        await plain.set("b", 2, metadata={"colors": ["blue"]}, ttl=60)
    async with indexed(redis_server, ns) as store:
        await assert_redis_index_agrees(redis_server, store)
        assert await keys(store, terms=frozenset({"color:blue"})) == ["b"]


async def test_a_store_without_index_cannot_write_to_an_indexed_namespace(
    redis_server: RedisServer,
) -> None:
    redis_server.ensure_running()
    ns = _ns("refused")
    # The plain store opens first (the namespace has no index yet), then the indexed one.
    async with (
        RedisStore(redis_server.url, namespace=ns) as plain,
        indexed(redis_server, ns) as store,
    ):
        await store.set("a", 1, metadata={"colors": ["red"]})
        with pytest.raises(ValueError, match="keeps an index: open the store with index="):
            await plain.set("b", 2, metadata={"colors": ["red"]})
        with pytest.raises(ValueError, match="keeps an index"):
            await plain.set_many({"b": 2, "c": 3})
        assert await plain.delete("a")  # a removal keeps the index too
        await assert_redis_index_agrees(redis_server, store)
        assert await store.get("b") is None and await keys(store) == []
    with pytest.raises(ValueError, match=r"keeps an index .* open it with index=terms"):
        async with RedisStore(redis_server.url, namespace=ns):
            pass


async def test_the_index_survives_a_crash_with_its_entries(durable_server: RedisServer) -> None:
    durable_server.ensure_running()
    ns = _ns("crash")
    async with indexed(durable_server, ns) as store:
        await store.set_many({f"k{i}": i for i in range(50)}, metadata={"colors": ["red"]})
        await store.set("k7", 7, metadata={"colors": ["blue"]})
    durable_server.stop()  # SIGKILL: what was acknowledged is in the append-only file
    durable_server.start()
    async with indexed(durable_server, ns) as again:
        await assert_redis_index_agrees(durable_server, again)
        assert await keys(again, terms=frozenset({"color:blue"})) == ["k7"]
        assert len(await keys(again, terms=frozenset({"color:red"}))) == 49


async def test_a_lookup_by_key_with_a_limit_reads_about_its_page(
    redis_server: RedisServer,
) -> None:
    redis_server.ensure_running()
    async with indexed(redis_server, _ns("page")) as store:
        every = [f"item:{i:03}" for i in range(300)]
        await store.set_many(dict.fromkeys(every, 0), metadata={"colors": ["red"]})
        await store.set_many({"item:007": 1, "item:123": 1}, metadata={"colors": ["blue"]})

        async def read(**lookup: Any) -> tuple[list[str], int]:
            before = store.found_entries_read
            found = await keys(store, **lookup)
            return found, store.found_entries_read - before

        assert await read(order_by="key", limit=5) == (every[:5], 5)
        assert await read(order_by="key", descending=True, offset=10, limit=3) == (
            every[::-1][10:13],
            13,
        )
        # No limit, or an order the keys do not come in: every candidate is read.
        assert await read(order_by="key") == (every, 300)
        assert await read(order_by="created_at", limit=5) == (every[:5], 300)
        # A smaller candidate set than the keys (a term's) is read as before.
        blue = frozenset({"color:blue"})
        assert await read(terms=blue, order_by="key", limit=1) == (["item:007"], 2)
        # Entries read that do not match (a glob past the prefix) make it read
        # again from the start, twice as many each time, until the page is
        # full (2, 4, ... 128 keys: item:105 is the 106th), with the same answer.
        assert await read(pattern="item:?05", order_by="key", limit=2) == (
            ["item:005", "item:105"],
            2 + 4 + 8 + 16 + 32 + 64 + 128,
        )
