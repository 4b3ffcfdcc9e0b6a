"""RedisMemoryStore: URLs and namespaces, a RedisStore or client of the application, sharing."""

from __future__ import annotations

import itertools
from datetime import timedelta

import anyio
import pytest
import redis.asyncio

from pepperflow import MemoryManager, RedisMemoryStore, StoreUnavailable, UnknownStoreURL
from pepperflow.stores import MemoryStore as MemoryBackend
from pepperflow.stores import RedisStore
from tests.support.redis_server import RedisServer, free_port

pytestmark = pytest.mark.anyio

_runs = itertools.count()


def ns(name: str) -> str:
    return f"{name}-{next(_runs)}"


async def test_two_redis_memory_stores_share_entries(redis_server: RedisServer) -> None:
    redis_server.ensure_running()
    namespace = ns("share")
    async with (
        RedisMemoryStore[str](redis_server.url, namespace=namespace) as one,
        RedisMemoryStore[str](f"{redis_server.url}?namespace={namespace}") as two,
    ):
        assert one.name == two.name == namespace
        assert one.store is not two.store
        await one.set("k", "v", ttl=timedelta(seconds=30), metadata={"by": "one"})
        entry = await two.get("k")
        assert entry is not None
        assert (entry.value, entry.version, entry.metadata) == ("v", 1, {"by": "one"})
        assert entry.expires_at is not None
        await two.set("k", "w")
        again = await one.get("k")
        assert again is not None and again.version == 2
        assert again.created_at == entry.created_at
        assert [key async for key in one.scan("k")] == ["k"]
        assert await two.clear() == 1
        assert await one.exists("k") is False


async def test_the_default_namespace_is_memory(redis_server: RedisServer) -> None:
    redis_server.ensure_running()
    memory: RedisMemoryStore[int] = RedisMemoryStore(redis_server.url)
    assert isinstance(memory.store, RedisStore) and memory.name == "memory"
    await memory.aclose()


async def test_it_opens_on_first_use_without_async_with(redis_server: RedisServer) -> None:
    redis_server.ensure_running()
    memory: RedisMemoryStore[int] = RedisMemoryStore(redis_server.url, namespace=ns("lazy"))
    manager = MemoryManager[int]()
    manager.register_store("redis", memory, default=True)
    await manager.set("k", 1, ttl=1)
    entry = await manager.get("k")
    assert entry is not None and entry.value == 1
    await memory.aclose()
    with pytest.raises(anyio.ClosedResourceError):
        await manager.get("k")


async def test_an_applications_redis_store_is_used_as_it_is(redis_server: RedisServer) -> None:
    redis_server.ensure_running()
    namespace = ns("app")
    async with RedisStore(redis_server.url, namespace=namespace) as store:
        memory: RedisMemoryStore[int] = RedisMemoryStore(store, namespace=namespace)
        assert memory.store is store
        await memory.set("k", 1)
        await memory.aclose()
        assert await store.get("k") == 1, "the application's store stays open"
        with pytest.raises(ValueError, match="the store's namespace is"):
            RedisMemoryStore(store, namespace="other")


# redis-py's asyncio client runs on asyncio only (trio uses coredis, built from URLs).
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_client_of_the_application_is_used_and_left_open(
    anyio_backend: str, redis_server: RedisServer
) -> None:
    redis_server.ensure_running()
    client = redis.asyncio.Redis(host=redis_server.host, port=redis_server.port)
    try:
        async with RedisMemoryStore[str](client, namespace=ns("client")) as memory:
            await memory.set("k", "v")
            entry = await memory.get("k")
            assert entry is not None and entry.value == "v"
        assert await client.ping()
    finally:
        await client.aclose()


async def test_bad_urls_and_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="needs a redis:// or rediss:// URL"):
        RedisMemoryStore("sqlite:///x.db")
    with pytest.raises(ValueError, match="the URL names namespace 'a' and the argument 'b'"):
        RedisMemoryStore("redis://127.0.0.1/0?namespace=a", namespace="b")
    with pytest.raises(TypeError, match="needs a RedisStore"):
        RedisMemoryStore(MemoryBackend())
    with pytest.raises(UnknownStoreURL):
        RedisMemoryStore("redis://127.0.0.1/0?changelog_length=many")
    assert RedisMemoryStore("redis://127.0.0.1/0?namespace=a", namespace="a").name == "a"


async def test_an_unreachable_server_is_a_clear_error() -> None:
    memory: RedisMemoryStore[int] = RedisMemoryStore(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(StoreUnavailable, match="cannot reach Redis"):
        await memory.set("k", 1)
    with pytest.raises(StoreUnavailable):
        await memory.get("k")
    await memory.aclose()
