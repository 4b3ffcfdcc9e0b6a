"""RedisStore through failovers of a real cluster, while a store writes
and another one follows.

A manual failover (``CLUSTER FAILOVER`` on the replica of the primary that
serves a namespace) loses nothing: the replica takes over once it has
every write, so each write succeeds, or fails saying it was not applied
and is written again. A primary killed (``kill -9``) once its replica has
every write loses nothing either: the replica is promoted after the
cluster's node timeout, the stores find it by themselves, and writes whose
reply was lost are written again with ``if_version=0`` (a second attempt
of one that was applied meets VersionConflict). Either way the follower
gets every change once, in order.
"""

from __future__ import annotations

import itertools
from functools import partial
from typing import Any

import anyio
import anyio.to_thread
import pytest

from pepperflow import StoreUnavailable, VersionConflict
from pepperflow.stores import RedisStore
from pepperflow.stores.redis import DriverName
from pepperflow.streams import Change
from tests.conformance.test_redis_conformance import DRIVERS
from tests.support.redis_cluster import RedisCluster
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize(("anyio_backend", "driver"), DRIVERS)]

_names = itertools.count()
WRITES = 200


async def _write(store: RedisStore[Any], key: str, value: int) -> None:
    """Set ``key``; again while the cluster says the write was not applied."""
    while True:
        try:
            await store.set(key, value)
            return
        except StoreUnavailable as exc:
            if "not applied" not in str(exc):  # "may or may not": the test cannot tell
                raise
            await anyio.sleep(0.05)


async def _write_once(store: RedisStore[Any], key: str, value: int) -> None:
    """Create ``key``; again while the store is unavailable, with
    ``if_version=0`` so that a write applied before its reply was lost is
    not applied twice."""
    with anyio.fail_after(60):
        while True:
            try:
                await store.set(key, value, if_version=0)
                return
            except VersionConflict:
                return  # an earlier attempt was applied
            except StoreUnavailable:
                await anyio.sleep(0.1)


async def test_a_primary_killed_is_replaced_and_the_stores_follow(
    redis_cluster: RedisCluster, driver: DriverName
) -> None:
    namespace = f"killed-{next(_names)}"
    log = f"pf:{{{namespace}}}:log"
    primary = redis_cluster.primary_of(log)
    replica = redis_cluster.replica_of(primary)
    got: list[Change] = []
    try:
        async with (
            RedisStore(redis_cluster.seeds_url, namespace=namespace, driver=driver) as writer,
            RedisStore(redis_cluster.seeds_url, namespace=namespace, driver=driver) as follower,
        ):
            follower.subscribe(None, got.append)
            for i in range(WRITES // 2):
                await _write_once(writer, f"k{i}", i)
            await anyio.to_thread.run_sync(redis_cluster.wait_replicated, primary)
            primary.stop()  # SIGKILL
            for i in range(WRITES // 2, WRITES):
                await _write_once(writer, f"k{i}", i)
            await wait_until(lambda: len(got) >= WRITES, "every change at the follower")
            assert redis_cluster.primary_of(log) is replica
            assert await follower.get_many(f"k{i}" for i in range(WRITES)) == {
                f"k{i}": i for i in range(WRITES)
            }
    finally:
        primary.start()  # it rejoins as the replica of its replica
        await anyio.to_thread.run_sync(redis_cluster.wait_healthy)
    assert [change.seq for change in got] == list(range(1, WRITES + 1))
    assert [change.key for change in got] == [f"k{i}" for i in range(WRITES)]


async def test_a_manual_failover_loses_and_doubles_no_write(
    redis_cluster: RedisCluster, driver: DriverName
) -> None:
    namespace = f"failover-{next(_names)}"
    log = f"pf:{{{namespace}}}:log"
    replica = redis_cluster.replica_of(redis_cluster.primary_of(log))
    failover = partial(redis_cluster.cli, "CLUSTER", "FAILOVER", node=replica)
    got: list[Change] = []
    async with (
        RedisStore(redis_cluster.seeds_url, namespace=namespace, driver=driver) as writer,
        RedisStore(replica.url, namespace=namespace, driver=driver) as follower,
    ):
        follower.subscribe(None, got.append)
        for i in range(WRITES // 2):
            await _write(writer, f"k{i}", i)
        await anyio.to_thread.run_sync(failover)
        for i in range(WRITES // 2, WRITES):
            await _write(writer, f"k{i}", i)
        await wait_until(lambda: len(got) >= WRITES, "every change at the follower")
        assert redis_cluster.primary_of(log) is replica
        assert await writer.get_many(f"k{i}" for i in range(WRITES)) == {
            f"k{i}": i for i in range(WRITES)
        }
    assert [change.seq for change in got] == list(range(1, WRITES + 1))
    assert [change.key for change in got] == [f"k{i}" for i in range(WRITES)]
    await anyio.to_thread.run_sync(redis_cluster.wait_healthy)
