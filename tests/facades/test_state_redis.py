"""SharedStateManager over Redis in one process: two connections, subscriptions before open,
an unreachable server. (Across processes: tests/facades/test_state_processes.py.)"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from pepperflow import SharedStateManager, StateManagerFactory, StoreUnavailable
from pepperflow.stores import RedisStore
from pepperflow.streams import Change, SetChange
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_for

pytestmark = pytest.mark.anyio

_runs = itertools.count()


async def test_two_factories_on_one_redis_share_state_and_changes(
    redis_server: RedisServer,
) -> None:
    redis_server.ensure_running()
    url = f"{redis_server.url}?namespace=two-{next(_runs)}"
    calls: list[tuple[str, Any]] = []
    async with StateManagerFactory(shared=url) as one, StateManagerFactory(shared=url) as two:
        writer = one.create_manager("room", "shared")
        reader = two.create_manager("room", "shared")
        reader.subscribe("topic", lambda key, value: calls.append((key, value)))
        await reader.open()
        assert isinstance(writer.store, RedisStore)
        assert writer.store.name == reader.store.name == f"{url.split('=')[1]}:room"
        assert writer.store is not reader.store
        delivered: list[Change] = []
        reader.store.subscribe(None, delivered.append)
        await writer.set("topic", "hello", ttl=0.2)
        await wait_for(calls, 1)
        # What the reader's store received; a read back would race the 0.2 s ttl.
        (change,) = delivered
        assert isinstance(change, SetChange) and change.key == "topic"
        assert (change.value, change.version) == ("hello", 1) and change.expires_at is not None
        await wait_for(calls, 2)  # the expiry, swept by either process
        assert await reader.get("topic") is None and await reader.entry("topic") is None
        assert calls == [("topic", "hello"), ("topic", None)]
        assert await reader.list() == []


async def test_subscriptions_made_before_the_store_opens_start_when_it_opens(
    redis_server: RedisServer,
) -> None:
    redis_server.ensure_running()
    url = f"{redis_server.url}?namespace=early-{next(_runs)}"
    calls: list[tuple[str, Any]] = []
    async with StateManagerFactory(shared=url) as factory:
        room = factory.create_manager("room", "shared")
        room.subscribe_pattern("msg:", lambda key, value: calls.append((key, value)))
        assert room.store.statistics().subscriptions == 0, "not open yet"
        await room.set("msg:1", "a")  # the first use opens the store, then writes
        assert calls == [("msg:1", "a")]
        assert room.store.statistics().subscriptions == 1


async def test_an_unreachable_server_raises_and_a_later_use_connects() -> None:
    server = RedisServer()
    try:
        url = f"{server.url}?namespace=late"
        calls: list[tuple[str, Any]] = []
        room: SharedStateManager[str] = SharedStateManager("room", store=url)
        room.subscribe("k", lambda key, value: calls.append((key, value)))
        failed = room.store
        with pytest.raises(StoreUnavailable, match="cannot reach Redis"):
            await room.set("k", "lost")
        assert room.store is not failed, "a RedisStore that failed to open is replaced"
        server.start()
        await room.set("k", "kept")
        assert calls == [("k", "kept")], "the subscription moved to the new store"
        assert await room.get("k") == "kept"
        await room.aclose()
    finally:
        server.close()
