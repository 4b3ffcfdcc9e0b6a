"""RedisStore passes the public conformance suite on a private Redis Cluster.

The same drivers as on one server (redis-py's ``RedisCluster`` on asyncio,
coredis's on asyncio and trio), each store with a namespace of its own, so
the namespaces spread over the cluster's slots and primaries. The URL
names every node as a seed (``redis+cluster://``).
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from pepperflow.stores.base import Store
from pepperflow.stores.redis import RedisStore
from pepperflow.testing import STORE_CHECKS, StoreCheck, StoreFactory
from tests.conformance import CHECK_IDS, skip_if_untyped, takes_types
from tests.conformance.test_redis_conformance import DRIVERS
from tests.support.redis_cluster import RedisCluster

pytestmark = pytest.mark.anyio

_namespaces = itertools.count()


@pytest.mark.parametrize(("anyio_backend", "driver"), DRIVERS)
@pytest.mark.parametrize("check", STORE_CHECKS, ids=CHECK_IDS)
async def test_redis_cluster_store(
    check: StoreCheck, driver: str, anyio_backend: str, redis_cluster: RedisCluster
) -> None:
    skip_if_untyped(check, RedisStore)

    def make(**options: Any) -> RedisStore[Any]:
        options.update(namespace=f"cluster-{driver}-{next(_namespaces)}", driver=driver)
        store: RedisStore[Any] = RedisStore(redis_cluster.seeds_url, **options)
        return store

    def reopen(store: Store[Any], **options: Any) -> RedisStore[Any]:
        assert isinstance(store, RedisStore)
        options.update(namespace=store.namespace, driver=driver)
        again: RedisStore[Any] = RedisStore(redis_cluster.seeds_url, **options)
        return again

    await check(StoreFactory(make, reopen, takes_types(RedisStore)))
