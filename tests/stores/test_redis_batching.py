"""RedisStore's concurrent sets share script calls, each staying its own set."""

from __future__ import annotations

import itertools
from typing import Any

import anyio
import pytest
import redis

from pepperflow import StoreUnavailable, VersionConflict
from pepperflow.stores import Lookup, RedisStore
from pepperflow.streams import Change
from tests.support.redis_index import assert_redis_index_agrees
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.anyio

_namespaces = itertools.count()
TASKS = 64


def _ns(name: str) -> str:
    return f"batch-{name}-{next(_namespaces)}"


def _script_calls(server: RedisServer) -> int:
    stats = redis.Redis(host=server.host, port=server.port).info("commandstats")
    return int(stats.get("cmdstat_evalsha", {"calls": 0})["calls"])


async def test_concurrent_sets_each_get_their_own_version_and_change(
    redis_server: RedisServer,
) -> None:
    redis_server.ensure_running()
    seen: list[Change] = []
    followed: list[Change] = []
    returned: list[tuple[str, int]] = []
    ns = _ns("own")
    async with (
        RedisStore(redis_server.url, namespace=ns) as store,
        RedisStore(redis_server.url, namespace=ns) as other,
    ):
        store.subscribe(None, seen.append)
        other.subscribe(None, followed.append)

        async def write(task: int) -> None:
            for round_ in range(3):
                key = f"k{task % 8}"  # 8 tasks share each key
                version = await store.set(key, {"task": task, "round": round_})
                assert any(c.key == key and c.version == version for c in seen), (
                    "a set's change is delivered before the set returns"
                )
                returned.append((key, version))

        calls = _script_calls(redis_server)
        async with anyio.create_task_group() as tg:
            for task in range(TASKS):
                tg.start_soon(write, task)
        assert _script_calls(redis_server) - calls < TASKS * 3 / 4, "the sets shared scripts"
        for key in (f"k{i}" for i in range(8)):
            versions = sorted(v for k, v in returned if k == key)
            assert versions == list(range(1, 25)), f"{key}: every set its own version"
            entry = await store.entry(key)
            assert entry is not None and entry.version == 24
        assert [c.seq for c in seen] == sorted(c.seq for c in seen), "delivered in seq order"
        assert len(seen) == TASKS * 3
        await wait_until(lambda: len(followed) == TASKS * 3)
        assert [(c.seq, c.key, c.version) for c in followed] == [
            (c.seq, c.key, c.version) for c in seen
        ], "the changelog holds every change: another store follows them all"


async def test_concurrent_compare_and_set_lets_exactly_one_win(
    redis_server: RedisServer,
) -> None:
    redis_server.ensure_running()
    async with RedisStore(redis_server.url, namespace=_ns("cas")) as store:
        won: list[int] = []
        lost: list[VersionConflict] = []

        async def claim(task: int) -> None:
            try:
                await store.set("lock", task, if_version=0)
                won.append(task)
            except VersionConflict as exc:
                lost.append(exc)

        async with anyio.create_task_group() as tg:
            for task in range(TASKS):
                tg.start_soon(claim, task)
        assert len(won) == 1 and len(lost) == TASKS - 1
        assert await store.get("lock") == won[0]
        assert all(exc.actual == 1 for exc in lost), "each conflict names the key's version"


async def test_concurrent_sets_with_and_without_ttl_keep_the_last(
    redis_server: RedisServer,
) -> None:
    redis_server.ensure_running()
    async with RedisStore(redis_server.url, namespace=_ns("ttl")) as store:

        async def write(task: int) -> None:
            await store.set("k", task, ttl=3600 if task % 2 else None)

        async with anyio.create_task_group() as tg:
            for task in range(TASKS):
                tg.start_soon(write, task)
        entry = await store.entry("k")
        assert entry is not None and entry.version == TASKS
        raw = redis.Redis(host=redis_server.host, port=redis_server.port)
        expiring = raw.zscore(f"pf:{{{store.namespace}}}:exp", "k") is not None
        assert (entry.expires_at is not None) is expiring, "the expiry index follows the entry"
        assert (entry.expires_at is not None) is bool(entry.value % 2)


async def test_a_refused_set_fails_alone_in_its_batch(redis_server: RedisServer) -> None:
    redis_server.ensure_running()
    async with RedisStore(redis_server.url, namespace=_ns("refused")) as store:
        errors: list[ValueError] = []

        async def write(task: int) -> None:
            # A deadline past Redis's range, which the script refuses (set()
            # refuses it first: the arguments are made past that check).
            args = store._writes.set_args(
                f"k{task}", task, 1e300 if task == 5 else None, None, None
            )
            try:
                await store._batcher.set(args)
            except ValueError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            for task in range(16):
                tg.start_soon(write, task)
        assert len(errors) == 1 and "deadline" in str(errors[0])
        assert await store.get("k5") is None
        assert await store.get_many([f"k{i}" for i in range(16)]) == {
            f"k{i}": i for i in range(16) if i != 5
        }


async def test_cancelled_sets_leave_the_others_and_the_store_working(
    redis_server: RedisServer,
) -> None:
    redis_server.ensure_running()
    async with RedisStore(redis_server.url, namespace=_ns("cancel")) as store:
        returned: dict[str, int] = {}

        async def write(task: int) -> None:
            # Some are cancelled waiting for their batch, some while it is sent.
            with anyio.move_on_after(0.0002 * (task % 4)):
                await store.set(f"k{task}", task)
                returned[f"k{task}"] = task

        for _ in range(5):
            async with anyio.create_task_group() as tg:
                for task in range(TASKS):
                    tg.start_soon(write, task)
        assert await store.set("after", 1) == 1, "the store still writes"
        got = await store.get_many(list(returned))
        assert got == returned, "every set that returned is there"
        assert (await store.entry("after")) is not None


async def test_a_batch_that_cannot_reach_redis_fails_every_set_in_it(
    redis_server: RedisServer,
) -> None:
    redis_server.ensure_running()
    async with RedisStore(redis_server.url, namespace=_ns("down")) as store:
        failed: list[StoreUnavailable] = []

        async def write(task: int) -> None:
            try:
                await store.set(f"k{task}", task)
            except StoreUnavailable as exc:
                failed.append(exc)

        redis_server.stop()
        try:
            async with anyio.create_task_group() as tg:
                for task in range(16):
                    tg.start_soon(write, task)
        finally:
            redis_server.restart()
        assert len(failed) == 16
        assert all("may or may not have been applied" in str(exc) for exc in failed)


def _colors(value: Any, metadata: Any) -> list[str]:
    return [f"color:{c}" for c in (metadata or {}).get("colors", [])]


async def test_concurrent_sets_keep_the_index(redis_server: RedisServer) -> None:
    redis_server.ensure_running()
    ns = _ns("index")
    async with RedisStore(redis_server.url, namespace=ns, index=_colors) as store:
        await store.set("k0", 0, metadata={"colors": ["old"]}, ttl=0.05)
        await anyio.sleep(0.06)  # k0 is due: the batch that sets it again expires it first

        async def write(task: int) -> None:
            color = "red" if task % 2 else "blue"
            await store.set(f"k{task % 8}", task, metadata={"colors": [color, f"t{task}"]})

        async with anyio.create_task_group() as tg:
            for task in range(TASKS):
                tg.start_soon(write, task)
        await assert_redis_index_agrees(redis_server, store)
        found = [e.key async for e in store.find(Lookup(terms=frozenset({"color:old"})))]
        assert found == []
        red = sorted([e.key async for e in store.find(Lookup(terms=frozenset({"color:red"})))])
        assert red == [f"k{i}" for i in range(8) if i % 2]
