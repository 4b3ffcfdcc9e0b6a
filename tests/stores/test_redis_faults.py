"""RedisStore when the server goes away: errors, reconnects, resumed followers.

The server here is durable (append-only file, fsync always), so a restart
keeps every acknowledged write, as a production Redis with persistence
does; the tests kill it with SIGKILL.
"""

from __future__ import annotations

import itertools

import anyio
import pytest
import redis

from pepperflow import StoreUnavailable
from pepperflow.stores.redis import RedisStore
from pepperflow.streams import Change, fold
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio

_namespaces = itertools.count()


async def _write_until_acknowledged(store: RedisStore[int], key: str, value: int) -> None:
    with anyio.fail_after(10):
        while True:
            try:
                await store.set(key, value)
                return
            except StoreUnavailable:
                await anyio.sleep(0.05)


async def test_a_write_while_the_server_is_down_says_it_was_not_acknowledged(
    durable_server: RedisServer,
) -> None:
    durable_server.ensure_running()
    async with RedisStore(durable_server.url, namespace=f"down-{next(_namespaces)}") as store:
        await store.set("k", 1)
        durable_server.stop()
        try:
            with pytest.raises(StoreUnavailable, match="connection to Redis failed during set"):
                await store.set("k", 2)
            with pytest.raises(StoreUnavailable):
                await store.get("k")
        finally:
            durable_server.restart()
        await _write_until_acknowledged(store, "k", 3)
        entry = await store.entry("k")
        assert entry is not None
        assert entry.value == 3
        assert entry.version == 2, "the unacknowledged write was not applied"


async def test_a_follower_resumes_after_a_restart_without_gap_or_duplicate(
    durable_server: RedisServer,
) -> None:
    durable_server.ensure_running()
    ns = f"resume-{next(_namespaces)}"
    got: list[Change] = []
    async with (
        RedisStore(durable_server.url, namespace=ns) as writer,
        RedisStore(durable_server.url, namespace=ns) as follower,
    ):
        follower.subscribe(None, got.append)
        for i in range(30):
            await writer.set(f"k:{i % 7}", i)
        durable_server.restart()
        for i in range(30, 60):
            await _write_until_acknowledged(writer, f"k:{i % 7}", i)
        with anyio.fail_after(10):
            while not got or got[-1].seq < writer.statistics().seq:
                await anyio.sleep(0.01)
        state = {key: entry.value for key, entry in fold(got).items()}
        expected = {key: await writer.get(key) for key in state}
    seqs = [change.seq for change in got]
    assert seqs == list(range(1, len(seqs) + 1)), "a change was lost or repeated"
    assert state == expected
    assert state == {f"k:{i % 7}": i for i in range(53, 60)}


async def test_scripts_the_server_forgot_are_loaded_again(durable_server: RedisServer) -> None:
    durable_server.ensure_running()
    async with RedisStore(durable_server.url, namespace=f"flush-{next(_namespaces)}") as store:
        await store.set("k", 1)
        with redis.Redis(host=durable_server.host, port=durable_server.port) as raw:
            raw.script_flush()
        assert await store.set("k", 2) == 2
        assert await store.delete("k")
