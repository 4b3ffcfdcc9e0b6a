"""RedisStore's kept connections: their edges, with every driver.

A store that makes its client from a URL (redis-py or coredis) sends most
commands on a connection of its own, read in the calling task; these tests
check what a user would: concurrent tasks get their own replies,
cancellations leave nothing behind, the URL's credentials, database and
name apply to that connection too, and a restarted server is reached again.
"""

from __future__ import annotations

import itertools

import anyio
import pytest
import redis

from pepperflow import StoreUnavailable
from pepperflow.stores.redis import DriverName, RedisStore
from tests.conformance.test_redis_conformance import DRIVERS
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize(("anyio_backend", "driver"), DRIVERS)]

_namespaces = itertools.count()


def _ns(name: str) -> str:
    return f"kept-{name}-{next(_namespaces)}"


async def test_tasks_at_once_each_get_their_own_replies_even_when_cancelled(
    redis_server: RedisServer,
    driver: DriverName,
) -> None:
    redis_server.ensure_running()
    async with RedisStore(redis_server.url, namespace=_ns("tasks"), driver=driver) as store:

        async def worker(task: int) -> None:
            for i in range(60):
                key = f"t{task}:{i % 3}"
                # Every third write may be cancelled before, during or after its round trip.
                with anyio.move_on_after((i % 7) * 40e-6 if i % 3 == 0 else 5):
                    await store.set(key, [task, i])
                value = await store.get(key)
                assert value is None or (value[0] == task and value[1] <= i), value
                assert await store.get(f"t{task}:never") is None

        async with anyio.create_task_group() as tg:
            for task in range(8):
                tg.start_soon(worker, task)
        for task in range(8):
            await store.set(f"t{task}:0", [task, -1])
            assert await store.get(f"t{task}:0") == [task, -1]
        async for key in store.scan():
            value = await store.get(key)
            assert value is not None
            assert key.startswith(f"t{value[0]}:"), (key, value)


async def test_writes_cancelled_at_any_point_leave_nothing_behind(
    redis_server: RedisServer,
    driver: DriverName,
) -> None:
    redis_server.ensure_running()
    async with RedisStore(redis_server.url, namespace=_ns("cancel"), driver=driver) as store:
        for i in range(200):
            with anyio.move_on_after((i % 30) * 50e-6):
                await store.set("k", i)
            value = await store.get("k")
            assert value is None or value <= i
            entry = await store.entry("k")
            assert (entry is None) == (value is None)
        version = await store.set("k", "last")
        last = await store.entry("k")
        assert last is not None and (last.value, last.version) == ("last", version)


async def test_the_urls_user_database_and_name_apply_to_every_connection(
    redis_server: RedisServer,
    driver: DriverName,
) -> None:
    redis_server.ensure_running()
    ns, name = _ns("acl"), f"pf-kept-{next(_namespaces)}"
    with redis.Redis(host=redis_server.host, port=redis_server.port) as raw:
        raw.acl_setuser(
            "pf-user", enabled=True, passwords=["+s3cret"], keys=["*"], commands=["+@all"]
        )
        try:
            url = f"redis://pf-user:s3cret@{redis_server.host}:{redis_server.port}/5"
            async with RedisStore(
                f"{url}?client_name={name}", namespace=ns, driver=driver
            ) as store:
                await store.set("k", "v")
                assert await store.get("k") == "v"
                clients = [c for c in raw.client_list() if c["name"] == name]
            assert len(clients) >= 2, clients  # the pool's and the store's own
            assert {(c["user"], c["db"]) for c in clients} == {("pf-user", "5")}
            with redis.Redis(host=redis_server.host, port=redis_server.port, db=5) as raw5:
                assert raw5.keys(f"*{{{ns}}}*"), "the store wrote to database 5"
            assert not raw.keys(f"*{{{ns}}}*"), "and nothing to database 0"
        finally:
            raw.acl_deluser("pf-user")


async def test_a_restarted_server_is_reached_again(
    durable_server: RedisServer, driver: DriverName
) -> None:
    durable_server.ensure_running()
    async with RedisStore(durable_server.url, namespace=_ns("restart"), driver=driver) as store:
        await store.set("k", 1)
        durable_server.restart()
        with anyio.fail_after(10):
            while True:
                try:
                    await store.set("k", 2)
                    break
                except StoreUnavailable:
                    await anyio.sleep(0.05)
        assert await store.get("k") == 2
        durable_server.stop()
        try:
            with pytest.raises(StoreUnavailable, match="connection to Redis failed during set"):
                await store.set("k", 3)
        finally:
            durable_server.restart()
        with anyio.fail_after(10):
            while True:
                try:
                    assert await store.get("k") == 2
                    break
                except StoreUnavailable:
                    await anyio.sleep(0.05)
