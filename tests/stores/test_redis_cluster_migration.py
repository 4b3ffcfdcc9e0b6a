"""RedisStore while its namespace's slot is migrated to another primary,
with writers, a reader and a feed running.

The test moves the slot as ``redis-cli --cluster reshard`` does, a few keys
per ``MIGRATE`` with a pause between, so that the store's commands meet the
slot half moved: ``ASK`` (every key of a command already on the target:
the cluster clients follow it) and ``TRYAGAIN`` (a script's keys split
between the two nodes, or a new entry: the store waits it out). What a
user would check: every acknowledged write is there once, with its value
and version; a feed open during the move gets every change once, in seq
order; the writes after the move go to the new owner. The slot moves back
at the end (the cluster is shared).
"""

from __future__ import annotations

import itertools
from functools import partial
from typing import Any

import anyio
import anyio.to_thread
import pytest

from pepperflow import StoreUnavailable
from pepperflow.stores import RedisStore
from pepperflow.stores.redis import DriverName
from pepperflow.streams import Change
from tests.conformance.test_redis_conformance import DRIVERS
from tests.support.redis_cluster import RedisCluster
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize(("anyio_backend", "driver"), DRIVERS)]

_names = itertools.count()
WRITERS = 4
OLD = 40  # keys per writer before the move, each set again during it
AFTER = 20  # sets per writer once the move is done


class _Written:
    """The acknowledged writes: each key's value and version, and how many changes."""

    def __init__(self) -> None:
        self.last: dict[str, tuple[Any, int]] = {}
        self.changes = 0

    def acknowledged(self, key: str, value: Any, version: int) -> None:
        self.last[key] = (value, version)
        self.changes += 1


async def _applied(write: Any) -> Any:
    """``write()``; again when the store says it was not applied (the
    cluster did not run it), never when it may have been."""
    while True:
        try:
            return await write()
        except StoreUnavailable as exc:
            if "not applied" not in str(exc):
                raise
            await anyio.sleep(0.01)


async def _writer(store: RedisStore[Any], w: int, written: _Written, moved: anyio.Event) -> None:
    """Set new keys, keys set before the move (with and without a ttl), two
    keys at once, until the move is done, then :data:`AFTER` sets more."""
    after = 0
    for i in itertools.count():
        old = f"old-{w}-{i % OLD}"
        version = await _applied(partial(store.set, old, i))
        written.acknowledged(old, i, version)
        new = f"new-{w}-{i}"
        version = await _applied(partial(store.set, new, i, ttl=600 if i % 3 else None))
        written.acknowledged(new, i, version)
        if i % 5 == 0:
            pair = {f"pair-{w}-{i}-a": i, f"pair-{w}-{i}-b": i}
            await _applied(partial(store.set_many, pair))
            for key, value in pair.items():
                written.acknowledged(key, value, 1)
        if moved.is_set():
            after += 1
            if after >= AFTER:
                return


async def _reader(store: RedisStore[Any], moved: anyio.Event) -> int:
    """Read the keys set before the move until it is done: each is always
    there (on whichever node holds it). How many reads."""
    reads = 0
    while not moved.is_set():
        for w in range(WRITERS):
            assert await store.get(f"old-{w}-{reads % OLD}") is not None
        reads += 1
    return reads


def _asking(cluster: RedisCluster, node: Any) -> int:
    """How many ``ASKING`` commands ``node`` ran (each before a command sent
    to it on an ``ASK``)."""
    for line in cluster.cli("INFO", "commandstats", node=node).splitlines():
        if line.startswith("cmdstat_asking:"):
            return int(line.split("calls=")[1].split(",")[0])
    return 0


async def test_a_slot_migrated_while_writers_run_loses_and_doubles_nothing(
    redis_cluster: RedisCluster, driver: DriverName
) -> None:
    namespace = f"migrated-{next(_names)}"
    log = f"pf:{{{namespace}}}:log"
    slot = int(redis_cluster.cli("CLUSTER", "KEYSLOT", log))
    source = redis_cluster.primary_of(log)
    target = next(node for node in redis_cluster.primaries() if node is not source)
    asked_before = _asking(redis_cluster, target)
    written, moved = _Written(), anyio.Event()
    got: list[Change] = []
    url = redis_cluster.seeds_url
    try:
        async with (
            RedisStore(url, namespace=namespace, driver=driver) as store,
            RedisStore(url, namespace=namespace, driver=driver) as follower,
        ):
            follower.subscribe(None, got.append)
            for w in range(WRITERS):
                await store.set_many({f"old-{w}-{i}": -1 for i in range(OLD)})
                for i in range(OLD):
                    written.acknowledged(f"old-{w}-{i}", -1, 1)
            migrate = partial(redis_cluster.migrate_slot, slot, target, batch=4, pause=0.02)
            async with anyio.create_task_group() as tasks:
                for w in range(WRITERS):
                    tasks.start_soon(_writer, store, w, written, moved)
                tasks.start_soon(_reader, store, moved)
                await anyio.to_thread.run_sync(migrate)
                moved.set()
            assert redis_cluster.primary_of(log) is target
            assert _asking(redis_cluster, target) > asked_before  # ASK was followed
            await store.set("after", "moved")  # a later write goes to the new owner
            entry = f"pf:{{{namespace}}}:k:after"
            assert redis_cluster.cli("EXISTS", entry, node=target).strip() == "1"
            written.acknowledged("after", "moved", 1)

            for key, (value, version) in written.last.items():
                found = await store.entry(key)
                assert found is not None, key
                assert (found.value, found.version) == (value, version), key
            snapshot = await store.snapshot()  # its entries are found, then read
            assert snapshot.seq == written.changes
            assert {e.key: (e.value, e.version) for e in snapshot.entries} == written.last
            await wait_until(lambda: len(got) >= written.changes, "every change at the feed")
            assert [change.seq for change in got] == list(range(1, written.changes + 1))
            versions: dict[str, list[int]] = {}
            for change in got:
                versions.setdefault(change.key, []).append(change.version)
            for key, (_, version) in written.last.items():
                assert versions[key] == list(range(1, version + 1)), key
    finally:
        await anyio.to_thread.run_sync(redis_cluster.fix)
        await anyio.to_thread.run_sync(redis_cluster.migrate_slot, slot, source)
        await anyio.to_thread.run_sync(redis_cluster.wait_healthy)
