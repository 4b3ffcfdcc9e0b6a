"""RedisStore passes the public conformance suite on a private redis-server.

Both drivers run it: redis-py's asyncio client (asyncio) and coredis
(asyncio and trio). Each store gets a namespace of its own, so it starts
empty; ``reopen`` connects again to the same namespace (a restart, another
process following the writes, schema evolution across store objects).
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from pepperflow.stores.base import Store
from pepperflow.stores.redis import RedisStore
from pepperflow.testing import STORE_CHECKS, StoreCheck, StoreFactory
from tests.conformance import CHECK_IDS, skip_if_untyped, takes_types
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio

_namespaces = itertools.count()

#: Every (backend, driver) pair RedisStore supports.
DRIVERS = [("asyncio", "redis-py"), ("asyncio", "coredis"), ("trio", "coredis")]


def redis_factory(url: str, driver: str, label: str) -> StoreFactory:
    """Stores on ``url`` with ``driver``, each in a new namespace
    (``label``-...); ``reopen`` connects again to a store's namespace."""
    run = next(_namespaces)

    def make(**options: Any) -> RedisStore[Any]:
        namespace = f"{label}-{driver}-{run}-{next(_namespaces)}"
        options.update(namespace=namespace, driver=driver)
        store: RedisStore[Any] = RedisStore(url, **options)
        return store

    def reopen(store: Store[Any], **options: Any) -> RedisStore[Any]:
        assert isinstance(store, RedisStore)
        options.update(namespace=store.namespace, driver=driver)
        again: RedisStore[Any] = RedisStore(url, **options)
        return again

    return StoreFactory(make, reopen, takes_types(RedisStore))


@pytest.mark.parametrize(("anyio_backend", "driver"), DRIVERS)
@pytest.mark.parametrize("check", STORE_CHECKS, ids=CHECK_IDS)
async def test_redis_store(
    check: StoreCheck, driver: str, anyio_backend: str, redis_server: RedisServer
) -> None:
    skip_if_untyped(check, RedisStore)
    redis_server.ensure_running()
    await check(redis_factory(redis_server.url, driver, "conformance"))
