"""RedisStore passes the public conformance suite on a private redis-server.

Both drivers run it: redis-py's asyncio client (asyncio) and coredis
(asyncio and trio). Each store gets a namespace of its own, so it starts
empty.
"""

from __future__ import annotations

import itertools

import pytest

from pepperflow.stores.redis import RedisStore
from pepperflow.testing import STORE_CHECKS, StoreCheck
from tests.conformance import CHECK_IDS
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
    redis_server.ensure_running()
    run = next(_namespaces)
    await check(
        lambda: RedisStore(  # type: ignore[call-overload]
            redis_server.url,
            namespace=f"conformance-{driver}-{run}-{next(_namespaces)}",
            driver=driver,
        )
    )
