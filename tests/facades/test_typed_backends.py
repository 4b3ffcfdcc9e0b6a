"""The façades' ``type=`` on SQLite and Redis: the same type back after a restart and across
connections. (In process: tests/facades/test_typed_facades.py; across processes:
tests/facades/test_state_processes.py.)
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio

from pepperflow import (
    MemoryManager,
    PersistentStateManager,
    RedisMemoryStore,
    SharedStateManager,
    StateManagerFactory,
)
from pepperflow.stores import RedisStore, SqliteStore
from tests.facades.typed_values import HELLO, Msg
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_for

pytestmark = pytest.mark.anyio

_runs = itertools.count()


# -- SQLite: after a restart ----------------------------------------------------------


async def test_a_persistent_manager_gives_back_a_struct_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    async with PersistentStateManager(path, name="chat", type=Msg) as first:
        assert isinstance(first.store, SqliteStore) and first.value_type is Msg
        await first.set("turn", HELLO, metadata={"by": "first"})
    async with PersistentStateManager(path, name="chat", type=Msg) as again:
        value = await again.get("turn")
        entry = await again.entry("turn")
        assert type(value) is Msg and value == HELLO
        assert entry is not None and type(entry.value) is Msg and entry.metadata == {"by": "first"}


async def test_the_default_persistent_store_is_typed_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PEPPERFLOW_HOME", raising=False)
    async with StateManagerFactory() as factory:
        chat = factory.create_manager("chat", "persistent", value_type=Msg)
        assert chat.value_type is Msg
        await chat.set("turn", HELLO)
    async with StateManagerFactory() as factory:
        chat = factory.create_manager("chat", "persistent", value_type=Msg)
        value = await chat.get("turn")
        assert type(value) is Msg and value == HELLO


async def test_a_sqlite_url_builds_a_typed_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    async with PersistentStateManager(url, name="chat", type=Msg) as first:
        await first.set("turn", HELLO)
    async with PersistentStateManager(url, name="chat", type=Msg) as again:
        assert again.store.codec.value_type is Msg
        assert await again.get("turn") == HELLO


# -- Redis: across connections ----------------------------------------------------------


async def test_redis_memory_stores_give_back_a_struct_another_connection_set(
    redis_server: RedisServer,
) -> None:
    redis_server.ensure_running()
    namespace = f"typed-{next(_runs)}"
    async with (
        RedisMemoryStore(redis_server.url, namespace=namespace, type=Msg) as one,
        RedisMemoryStore(f"{redis_server.url}?namespace={namespace}", type=Msg) as two,
    ):
        assert isinstance(one.store, RedisStore) and one.value_type is two.value_type is Msg
        memory = MemoryManager(type=Msg)
        memory.register_store("shared", two, default=True)
        await one.set("turn", HELLO, metadata={"by": "one"})
        entry = await memory.get("turn")
        assert entry is not None and type(entry.value) is Msg and entry.value == HELLO
        assert entry.metadata == {"by": "one"}


# redis-py's asyncio client runs on asyncio only (trio uses coredis, built from URLs).
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_redis_memory_store_over_a_client_is_typed(
    anyio_backend: str, redis_server: RedisServer
) -> None:
    redis_server.ensure_running()
    client = redis.asyncio.Redis(host=redis_server.host, port=redis_server.port)
    try:
        async with RedisMemoryStore(client, namespace=f"client-{next(_runs)}", type=Msg) as one:
            assert one.store.codec.value_type is Msg
            await one.set("turn", HELLO)
            entry = await one.get("turn")
            assert entry is not None and entry.value == HELLO
    finally:
        await client.aclose()


async def test_shared_managers_over_redis_get_their_type_in_callbacks(
    redis_server: RedisServer,
) -> None:
    redis_server.ensure_running()
    url = f"{redis_server.url}?namespace=typed-shared-{next(_runs)}"
    calls: list[tuple[str, Any]] = []
    async with (
        SharedStateManager("room", store=url, type=Msg) as writer,
        SharedStateManager("room", store=url, type=Msg) as reader,
    ):
        reader.subscribe("turn", lambda key, value: calls.append((key, value)))
        await writer.set("turn", HELLO)
        await wait_for(calls, 1)
        assert calls == [("turn", HELLO)] and type(calls[0][1]) is Msg
        value = await reader.get("turn")
        assert type(value) is Msg and value == HELLO
