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


@pytest.mark.parametrize(("anyio_backend", "driver"), DRIVERS)
@pytest.mark.parametrize("check", STORE_CHECKS, ids=CHECK_IDS)
async def test_redis_store(
    check: StoreCheck, driver: str, anyio_backend: str, redis_server: RedisServer
) -> None:
    skip_if_untyped(check, RedisStore)
    redis_server.ensure_running()
    run = next(_namespaces)

    def make(**options: Any) -> RedisStore:
        namespace = f"conformance-{driver}-{run}-{next(_namespaces)}"
        return RedisStore(redis_server.url, namespace=namespace, driver=driver, **options)  # type: ignore[arg-type]

    def reopen(store: Store[Any], **options: Any) -> RedisStore:
        assert isinstance(store, RedisStore)
        return RedisStore(redis_server.url, namespace=store.namespace, driver=driver, **options)  # type: ignore[arg-type]

    await check(StoreFactory(make, reopen, takes_types(RedisStore)))
