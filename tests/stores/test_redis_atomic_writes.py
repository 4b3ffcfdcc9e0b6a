"""RedisStore's write scripts apply all of a write or none of it.

Redis does not undo the writes of a script that fails midway, so every
write script checks its arguments, reads and decodes what it needs before
its first write. These tests make a script fail where an earlier build
failed after its first write: on a key whose ttl is due but not yet swept,
where the script's expiry step came first, and check that the namespace's
keys (meta hash, expiry index, changelog, entries) are as they were.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis

from pepperflow.stores import RedisStore
from pepperflow.stores.base import Entry, Snapshot
from pepperflow.stores.redis import DriverName
from tests.conformance.test_redis_conformance import DRIVERS
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize(("anyio_backend", "driver"), DRIVERS)]

_namespaces = itertools.count()

RawState = tuple[Any, ...]


def _raw(server: RedisServer) -> redis.Redis:
    return redis.Redis(host=server.host, port=server.port)


def _state(raw: redis.Redis, ns: str) -> RawState:
    """Everything namespace ``ns`` holds in Redis."""
    tag = f"pf:{{{ns}}}:"
    entries = sorted(raw.scan_iter(match=tag + "k:*"))
    return (
        raw.hgetall(tag + "meta"),
        raw.zrange(tag + "exp", 0, -1, withscores=True),
        raw.xrange(tag + "log"),
        {key: (raw.get(key), raw.pexpiretime(key)) for key in entries},
    )


def _set_huge_ttl(store: RedisStore[Any]) -> Awaitable[object]:
    """A set whose ttl (10^15 s) the edge refuses: the script sees it."""
    writes = store._writes
    return writes.set(writes.set_args("k", 2, 1e15, None, None))


def _set_many_huge_ttl(store: RedisStore[Any]) -> Awaitable[None]:
    return store._writes.set_many({"k": 2, "other": 3}, 1e15, None)


def _restore_far_deadline(store: RedisStore[Any]) -> Awaitable[None]:
    """A restore whose entry expires in 10^300 s: Redis cannot keep it."""
    entry = Entry("k", 2, 1, 1.0, 1.0, expires_at=1e300)
    return store.restore(Snapshot(store.name, 0, 0.0, [entry]))


@pytest.mark.parametrize(
    "failing_write",
    [_set_huge_ttl, _set_many_huge_ttl, _restore_far_deadline],
    ids=["set", "set_many", "restore"],
)
async def test_a_write_the_script_refuses_after_a_due_expiry_changes_nothing(
    redis_server: RedisServer,
    driver: DriverName,
    failing_write: Callable[[RedisStore[Any]], Awaitable[object]],
) -> None:
    redis_server.ensure_running()
    ns = f"atomic-{next(_namespaces)}"
    with _raw(redis_server) as raw:
        async with RedisStore(redis_server.url, namespace=ns, driver=driver) as store:
            await store.set("k", 1, ttl=3600)
            async with store._sweeper._lock:  # no sweep meanwhile
                # The deadline passed and no sweep ran yet: the write's
                # script would commit the expiry first.
                raw.zadd(f"pf:{{{ns}}}:exp", {"k": 1.0})
                before = _state(raw, ns)
                with pytest.raises(ValueError, match=r"refused its arguments.*nothing was written"):
                    await failing_write(store)
                assert _state(raw, ns) == before


async def test_a_key_created_at_a_whole_second_stays_writable(
    redis_server: RedisServer, driver: DriverName
) -> None:
    redis_server.ensure_running()
    ns = f"whole-{next(_namespaces)}"
    async with RedisStore(redis_server.url, namespace=ns, driver=driver) as store:
        entry = Entry("k", "v", 1, 1700000000.0, 1700000000.0)
        await store.restore(Snapshot(ns, 0, 0.0, [entry]))
        assert await store.set("k", "w") == 2
        assert await store.set("k", "x", ttl=60) == 3
        assert await store.delete("k")
        again = await store.entry("k")
        assert again is None


@pytest.mark.parametrize("write", ["set", "set_many", "delete"])
async def test_a_namespace_whose_last_seq_was_lost_refuses_writes_and_changes_nothing(
    redis_server: RedisServer, driver: DriverName, write: str
) -> None:
    redis_server.ensure_running()
    ns = f"lost-{next(_namespaces)}"
    with _raw(redis_server) as raw:
        async with RedisStore(redis_server.url, namespace=ns, driver=driver) as store:
            await store.set_many({"k": 1, "other": 2})
            raw.delete(f"pf:{{{ns}}}:meta")  # as an eviction would: the changelog stays
            before = _state(raw, ns)
            runs: dict[str, Callable[[], Awaitable[object]]] = {
                "set": lambda: store.set("k", 3),
                "set_many": lambda: store.set_many({"k": 3, "new": 4}),
                "delete": lambda: store.delete("k"),
            }
            with pytest.raises(Exception, match=r"PFSTATE.*delete the namespace's keys"):
                await runs[write]()
            assert _state(raw, ns) == before
