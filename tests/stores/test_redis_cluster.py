"""RedisStore on a real Redis Cluster: its URLs, its clients, its slots,
its credentials and TLS.

The session's private cluster (3 primaries, a replica each) serves every
test but the TLS ones, which start a small TLS cluster of their own. Every
test runs on redis-py (asyncio) and coredis (asyncio and trio).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from pepperflow import StoreAccessDenied, StoreUnavailable, UnknownStoreURL, open_store
from pepperflow.stores import Lookup, RedisStore
from pepperflow.stores.redis import DriverName
from tests.conformance.test_redis_conformance import DRIVERS
from tests.support.acl import ACL_LINE
from tests.support.redis_cluster import RedisCluster
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize(("anyio_backend", "driver"), DRIVERS)]

#: What a cluster's ACL user needs beyond the single server's line
#: (docs/redis.md, "Redis Cluster"): the layout, the client's command
#: table, the store's cluster check and ASK redirects.
CLUSTER_ACL = "+cluster|slots +command +info +asking"

_names = itertools.count()


def _namespace(cluster: RedisCluster, *, away_from: RedisServer | None = None) -> str:
    """A new namespace; one whose slot ``away_from`` does not serve, if given."""
    while True:
        name = f"cluster-{next(_names)}"
        if away_from is None or cluster.primary_of(f"pf:{{{name}}}:log") is not away_from:
            return name


async def _round_trip(url: str, driver: DriverName, namespace: str, **options: Any) -> None:
    """A write through ``url`` is read, and delivered, through the seeds' URL."""
    async with RedisStore(url, namespace=namespace, driver=driver, **options) as store:
        await store.set("k", {"n": 1})
        got: list[Any] = []
        store.subscribe(None, got.append)
        await store.set_many({"a": 1, "b": 2})
        assert [change.key for change in got] == ["a", "b"]
        assert await store.get_many(["k", "a", "b"]) == {"k": {"n": 1}, "a": 1, "b": 2}


async def test_the_url_of_any_node_opens_the_cluster(
    redis_cluster: RedisCluster, driver: DriverName
) -> None:
    for node in (redis_cluster.nodes[0], redis_cluster.nodes[-1]):  # a primary, a replica
        namespace = _namespace(redis_cluster, away_from=node)
        await _round_trip(node.url, driver, namespace)
        async with RedisStore(redis_cluster.seeds_url, namespace=namespace) as seen:
            assert await seen.get("k") == {"n": 1}


async def test_open_store_takes_a_cluster_url_of_seeds(
    redis_cluster: RedisCluster, driver: DriverName
) -> None:
    namespace = _namespace(redis_cluster)
    url = f"{redis_cluster.seeds_url}/?namespace={namespace}&driver={driver}"
    async with open_store(url) as store:
        await store.set("k", 1)
    dead = RedisServer()  # a seed that answers nothing: the others do
    url = f"redis+cluster://{dead.host}:{dead.port},{redis_cluster.url.split('://')[1]}"
    async with open_store(f"{url}/?namespace={namespace}&driver={driver}") as again:
        assert await again.get("k") == 1


def _terms(value: Any, metadata: Any) -> list[str]:
    return [str(value)]


async def test_namespaces_spread_over_the_primaries_each_on_one_slot(
    redis_cluster: RedisCluster, driver: DriverName
) -> None:
    names = [_namespace(redis_cluster) for _ in range(6)]
    for name in names:
        async with RedisStore(
            redis_cluster.seeds_url, namespace=name, driver=driver, index=_terms
        ) as store:
            await store.set("x", 1, ttl=60)
            await store.set_many({"y": 2, "z": 3})
            await store.delete("z")
            found = store.find(Lookup(terms=frozenset({"2"})))
            assert [entry.key async for entry in found] == ["y"]
    primaries = {redis_cluster.primary_of(f"pf:{{{name}}}:log").port for name in names}
    assert len(primaries) > 1, "six namespaces all on one primary"
    for name in names:
        # Every key is under the namespace's hash tag, so on its one slot.
        tag = f"pf:{{{name}}}:"
        for node in redis_cluster.primaries():
            keys = redis_cluster.cli("--scan", "--pattern", "pf:*", node=node).split()
            mine = [key for key in keys if f"{{{name}}}" in key]
            if node is redis_cluster.primary_of(tag + "log"):
                assert mine and all(key.startswith(tag) for key in mine)
            else:
                assert mine == []


async def test_a_users_cluster_client_is_used_and_left_open(
    redis_cluster: RedisCluster, driver: DriverName
) -> None:
    namespace = _namespace(redis_cluster)
    node = redis_cluster.nodes[0]
    if driver == "redis-py":
        from redis.asyncio.cluster import RedisCluster as PyCluster

        client: Any = PyCluster(host=node.host, port=node.port)
        try:
            await _round_trip(client, driver, namespace)
            assert await client.exists(f"pf:{{{namespace}}}:k:k") == 1  # still open
        finally:
            await client.aclose()
        return
    import coredis

    core: Any = coredis.RedisCluster(host=node.host, port=node.port)
    async with core:
        await _round_trip(core, driver, namespace)
        assert await core.exists([f"pf:{{{namespace}}}:k:k"]) == 1
    for stream in core.connection_pool.cluster_layout._error_stream:
        stream.close()  # coredis 6 leaves it open (RedisStore closes its own clients')


async def test_a_cluster_has_database_zero_only(
    redis_cluster: RedisCluster, driver: DriverName
) -> None:
    store = RedisStore(redis_cluster.url + "/3", namespace=_namespace(redis_cluster), driver=driver)
    with pytest.raises(UnknownStoreURL, match="a Redis Cluster has database 0 only"):
        await store.__aenter__()


@pytest.fixture(scope="module")
def acl_users(redis_cluster: RedisCluster) -> Iterator[str]:
    """Users ``app-N`` on every node (ACLs are each node's own): the single
    server's line and the cluster's extras; ``plain-N`` without INFO."""
    assert ACL_LINE is not None
    suffix = next(_names)
    for node in redis_cluster.nodes:
        for user, extra in ((f"app-{suffix}", CLUSTER_ACL), (f"plain-{suffix}", "")):
            line = ACL_LINE.group(0).replace("CHANGE-ME", "pw").replace("{app}", "{app*}")
            line = line.replace("SETUSER app ", f"SETUSER {user} ")
            redis_cluster.cli(*line.split(), *extra.split(), node=node)
    yield str(suffix)
    for node in redis_cluster.nodes:
        redis_cluster.cli("ACL", "DELUSER", f"app-{suffix}", f"plain-{suffix}", node=node)


async def test_acl_users_log_in_to_every_node(
    redis_cluster: RedisCluster, acl_users: str, driver: DriverName
) -> None:
    namespace = f"app{_namespace(redis_cluster)}"
    seeds = redis_cluster.seeds_url.split("://")[1]
    for url in (f"redis+cluster://app-{acl_users}:pw@{seeds}", redis_cluster.nodes[0].url):
        url = url.replace("redis://", f"redis://app-{acl_users}:pw@")
        await _round_trip(url, driver, namespace)
    wrong = f"redis+cluster://app-{acl_users}:nope@{seeds}"
    with pytest.raises(StoreAccessDenied, match=r"WRONGPASS|invalid username-password"):
        await _round_trip(wrong, driver, namespace)


async def test_a_node_taken_for_one_server_says_to_write_a_cluster_url(
    redis_cluster: RedisCluster, acl_users: str, driver: DriverName
) -> None:
    node = redis_cluster.nodes[0]
    namespace = f"app{_namespace(redis_cluster, away_from=node)}"
    url = node.url.replace("redis://", f"redis://plain-{acl_users}:pw@")
    with pytest.raises(StoreUnavailable, match=r"node of a Redis Cluster.*redis\+cluster://"):
        await _round_trip(url, driver, namespace)


@pytest.fixture(scope="module")
def tls_cluster() -> Iterator[RedisCluster]:
    """A TLS-only cluster of three primaries (no replicas: the TLS is the point)."""
    with RedisCluster(replicas=0, tls="server") as cluster:
        yield cluster


async def test_tls_carries_the_store_to_every_node(
    tls_cluster: RedisCluster, driver: DriverName
) -> None:
    ca = f"ssl_ca_certs={tls_cluster.tls_files.ca}"
    node = tls_cluster.nodes[1]
    namespace = _namespace(tls_cluster, away_from=node)
    assert tls_cluster.seeds_url.startswith("rediss+cluster://")
    await _round_trip(f"{tls_cluster.seeds_url}/?{ca}", driver, namespace)
    await _round_trip(f"{node.url}?{ca}", driver, namespace)
    with anyio.fail_after(30), pytest.raises(StoreUnavailable):
        await _round_trip(tls_cluster.seeds_url, driver, namespace)  # the CA is not trusted


def _move_slot(cluster: RedisCluster, key: str, to: RedisServer) -> None:
    """Move ``key``'s slot, with its keys, to the primary ``to`` (while
    nothing writes to it): ``IMPORTING`` and ``MIGRATING``, ``MIGRATE`` of
    its keys, then ``SETSLOT ... NODE`` on every primary."""
    source = cluster.primary_of(key)
    slot = cluster.cli("CLUSTER", "KEYSLOT", key).strip()
    ids = {node: cluster.cli("CLUSTER", "MYID", node=node).strip() for node in (source, to)}
    cluster.cli("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[source], node=to)
    cluster.cli("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[to], node=source)
    while keys := cluster.cli("CLUSTER", "GETKEYSINSLOT", slot, "100", node=source).split():
        cluster.cli("MIGRATE", to.host, str(to.port), "", "0", "5000", "KEYS", *keys, node=source)
    for node in cluster.primaries():
        cluster.cli("CLUSTER", "SETSLOT", slot, "NODE", ids[to], node=node)


async def test_a_namespace_moved_to_another_primary_is_followed(
    redis_cluster: RedisCluster, driver: DriverName
) -> None:
    namespace = _namespace(redis_cluster)
    log = f"pf:{{{namespace}}}:log"
    source = redis_cluster.primary_of(log)
    target = next(node for node in redis_cluster.primaries() if node is not source)
    async with RedisStore(redis_cluster.seeds_url, namespace=namespace, driver=driver) as store:
        for i in range(5):  # on the store's own connection to the source
            await store.set(f"k{i}", i)
            assert await store.get(f"k{i}") == i
        await anyio.to_thread.run_sync(_move_slot, redis_cluster, log, target)
        assert await store.get("k4") == 4  # MOVED: followed to the target
        for i in range(5, 10):
            await store.set(f"k{i}", i)
            assert await store.get(f"k{i}") == i
        assert await store.get_many([f"k{i}" for i in range(10)]) == {f"k{i}": i for i in range(10)}
    assert redis_cluster.primary_of(log) is target
    assert redis_cluster.cli("EXISTS", f"pf:{{{namespace}}}:k:k9", node=target).strip() == "1"


async def test_a_stores_cluster_client_leaves_coredis_as_it_was(
    redis_cluster: RedisCluster, driver: DriverName
) -> None:
    from coredis.cluster._node import ClusterNodeLocation
    from coredis.connection import ClusterConnection

    url = redis_cluster.seeds_url
    async with RedisStore(url, namespace=_namespace(redis_cluster), driver=driver) as store:
        await store.set("k", 1)
    # How coredis's own cluster clients ask a node for the layout, unchanged.
    node_client = ClusterNodeLocation(redis_cluster.nodes[0].host, redis_cluster.nodes[0].port)
    assert node_client.as_client().connection_pool.connection_class is ClusterConnection


async def test_a_primary_that_lost_its_scripts_gets_them_again(
    redis_cluster: RedisCluster, driver: DriverName
) -> None:
    namespace = _namespace(redis_cluster)
    primary = redis_cluster.primary_of(f"pf:{{{namespace}}}:log")
    async with RedisStore(redis_cluster.seeds_url, namespace=namespace, driver=driver) as store:
        await store.set("k", 1)
        redis_cluster.cli("SCRIPT", "FLUSH", node=primary)  # as a restart without them would
        await store.set("k", 2)
        assert await store.get("k") == 2
