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
import os
import signal
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import anyio
import anyio.to_thread
import pytest

from pepperflow import StoreUnavailable, VersionConflict, open_store
from pepperflow.stores import RedisStore
from pepperflow.stores.redis import DriverName
from pepperflow.streams import Change
from tests.conformance.test_redis_cluster_conformance import CLUSTER_DRIVERS
from tests.support.redis_cluster import RedisCluster
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.parametrize(("anyio_backend", "driver"), CLUSTER_DRIVERS),
]

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


def _every_change_once_in_order(got: list[Change]) -> None:
    assert [change.seq for change in got] == list(range(1, WRITES + 1))
    assert [change.key for change in got] == [f"k{i}" for i in range(WRITES)]


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


async def _through(
    fail: Callable[[], object],
    write: Callable[[RedisStore[Any], str, int], Awaitable[None]],
    cluster: RedisCluster,
    namespace: str,
    driver: DriverName,
    follower_url: str,
) -> list[Change]:
    """Write ``WRITES`` keys with ``write``, half of them before ``fail()``
    (in a thread), while a store on ``follower_url`` follows: what it got,
    once each key reads back as written."""
    got: list[Change] = []
    async with (
        RedisStore(cluster.seeds_url, namespace=namespace, driver=driver) as writer,
        RedisStore(follower_url, namespace=namespace, driver=driver) as follower,
    ):
        follower.subscribe(None, got.append)
        for i in range(WRITES // 2):
            await write(writer, f"k{i}", i)
        await anyio.to_thread.run_sync(fail)
        for i in range(WRITES // 2, WRITES):
            await write(writer, f"k{i}", i)
        await wait_until(lambda: len(got) >= WRITES, "every change at the follower")
        written = {f"k{i}": i for i in range(WRITES)}
        assert await follower.get_many(written) == written
    return got


async def test_a_primary_killed_is_replaced_and_the_stores_follow(
    redis_cluster: RedisCluster, driver: DriverName
) -> None:
    namespace = f"killed-{next(_names)}"
    log = f"pf:{{{namespace}}}:log"
    primary = redis_cluster.primary_of(log)
    replica = redis_cluster.replica_of(primary)

    def kill() -> None:
        redis_cluster.wait_replicated(primary)  # so that no acknowledged write is lost
        primary.stop()  # SIGKILL

    try:
        url = redis_cluster.seeds_url
        got = await _through(kill, _write_once, redis_cluster, namespace, driver, url)
        assert redis_cluster.primary_of(log) is replica
    finally:
        primary.start()  # it rejoins as the replica of its replica
        await anyio.to_thread.run_sync(redis_cluster.wait_healthy)
    _every_change_once_in_order(got)


async def test_a_manual_failover_loses_and_doubles_no_write(
    redis_cluster: RedisCluster, driver: DriverName
) -> None:
    namespace = f"failover-{next(_names)}"
    log = f"pf:{{{namespace}}}:log"
    replica = redis_cluster.replica_of(redis_cluster.primary_of(log))
    failover = partial(redis_cluster.cli, "CLUSTER", "FAILOVER", node=replica)
    got = await _through(failover, _write, redis_cluster, namespace, driver, replica.url)
    assert redis_cluster.primary_of(log) is replica
    _every_change_once_in_order(got)
    await anyio.to_thread.run_sync(redis_cluster.wait_healthy)


async def test_a_replicated_write_waits_for_a_replica_and_outlives_its_primary(
    redis_cluster: RedisCluster, driver: DriverName
) -> None:
    namespace = f"replicated-{next(_names)}"
    primary = redis_cluster.primary_of(f"pf:{{{namespace}}}:log")
    replica = redis_cluster.replica_of(primary)
    assert replica.pid is not None
    url = redis_cluster.seeds_url
    try:
        async with RedisStore(
            url,
            namespace=namespace,
            driver=driver,
            durability="replicated",
            # Long enough for a loaded machine's replica to answer WAIT (0.3 s
            # was not, after the old primary rejoined); the stopped replica's
            # write costs this long once.
            replication_timeout=3.0,
        ) as store:
            await store.set("kept", 1)  # acknowledged: its replica has it
            os.kill(replica.pid, signal.SIGSTOP)  # the replica hears nothing more
            try:
                with pytest.raises(StoreUnavailable, match="not replicated in time"):
                    await store.set("unconfirmed", 2)
                assert await store.get("unconfirmed") == 2  # applied on the primary alone
                primary.stop()  # SIGKILL
            finally:
                os.kill(replica.pid, signal.SIGCONT)
            with anyio.fail_after(60):
                while True:  # until the replica is promoted
                    try:
                        assert await store.get("kept") == 1
                        break
                    except StoreUnavailable:
                        await anyio.sleep(0.1)
            primary.start()  # it rejoins: the new primary has a replica again
            await anyio.to_thread.run_sync(redis_cluster.wait_healthy)
            await store.set("after", 3)  # replicated by the new primary
            assert await store.get("after") == 3
    finally:
        primary.start()
        await anyio.to_thread.run_sync(redis_cluster.wait_healthy)


async def test_replicated_writes_to_a_server_without_replicas_are_never_acknowledged(
    redis_server: RedisServer, driver: DriverName
) -> None:
    redis_server.ensure_running()
    url = f"{redis_server.url}?namespace=alone-{next(_names)}&driver={driver}"
    url += "&durability=replicated&replication_timeout=0.05"
    async with open_store(url) as store:
        with pytest.raises(StoreUnavailable, match="applied on the primary, but not replicated"):
            await store.set("k", 1)
        assert await store.get("k") == 1
    with pytest.raises(ValueError, match="durability must be 'acknowledged'"):
        RedisStore(redis_server.url, durability="eventual")  # type: ignore[call-overload]
