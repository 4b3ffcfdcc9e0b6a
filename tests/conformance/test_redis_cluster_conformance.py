"""RedisStore passes the public conformance suite on a private Redis Cluster.

redis-py's ``RedisCluster`` on asyncio and coredis's on trio, each store
with a namespace of its own, so the namespaces spread over the cluster's
slots and primaries. The URL names every node as a seed
(``redis+cluster://``).
"""

from __future__ import annotations

import pytest

from pepperflow.stores.redis import RedisStore
from pepperflow.testing import STORE_CHECKS, StoreCheck
from tests.conformance import CHECK_IDS, skip_if_untyped
from tests.conformance.test_redis_conformance import redis_factory
from tests.support.redis_cluster import RedisCluster

pytestmark = pytest.mark.anyio

#: redis-py on asyncio, coredis on trio: both drivers, both loops (coredis
#: on asyncio runs the other cluster tests).
CLUSTER_DRIVERS = [("asyncio", "redis-py"), ("trio", "coredis")]


@pytest.mark.parametrize(("anyio_backend", "driver"), CLUSTER_DRIVERS)
@pytest.mark.parametrize("check", STORE_CHECKS, ids=CHECK_IDS)
async def test_redis_cluster_store(
    check: StoreCheck, driver: str, anyio_backend: str, redis_cluster: RedisCluster
) -> None:
    skip_if_untyped(check, RedisStore)
    await check(redis_factory(redis_cluster.seeds_url, driver, "cluster"))
