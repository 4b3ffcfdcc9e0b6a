"""A RedisStore URL's client options, checked when the store opens, and
the connect timeout: the same rules on both drivers and both loops."""

from __future__ import annotations

import itertools

import anyio
import pytest

from pepperflow import InvalidDuration, StoreUnavailable, UnknownStoreURL, open_store
from pepperflow.stores.redis import DriverName, RedisStore
from tests.conformance.test_redis_conformance import DRIVERS
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio
every_driver = pytest.mark.parametrize(("anyio_backend", "driver"), DRIVERS)

_namespaces = itertools.count()


def _ns() -> str:
    return f"options-{next(_namespaces)}"


@every_driver
@pytest.mark.parametrize(
    ("query", "error", "message"),
    [
        ("colour=blue", UnknownStoreURL, r"unknown Redis client option 'colour'.*known: .*db"),
        ("namespace=x", UnknownStoreURL, r"'namespace' is the store's own option"),
        (
            "ssl_cert_reqs=none",
            UnknownStoreURL,
            r"ssl_cert_reqs only apply to TLS; write rediss://",
        ),
        ("connect_timeout=soon", UnknownStoreURL, r"connect_timeout must be seconds"),
        ("connect_timeout=1&socket_connect_timeout=2", UnknownStoreURL, "once"),
        ("connect_timeout=0", InvalidDuration, "must be positive"),
        ("socket_connect_timeout=nan", InvalidDuration, "must be positive"),
        ("max_connections=many", UnknownStoreURL, r"refuses a value of the URL's options"),
    ],
)
async def test_a_client_option_the_driver_does_not_take_is_refused_at_open(
    redis_server: RedisServer,
    driver: DriverName,
    query: str,
    error: type[Exception],
    message: str,
) -> None:
    redis_server.ensure_running()
    url = f"redis://:s3cret@{redis_server.host}:{redis_server.port}/0?{query}"
    with pytest.raises(error, match=message) as refused:
        async with RedisStore(url, namespace=_ns(), driver=driver):
            pass
    assert "s3cret" not in str(refused.value), "the password is never printed"


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_protocol_other_than_resp2_or_resp3_is_refused_at_open(
    redis_server: RedisServer,
) -> None:
    url = f"{redis_server.url}?protocol=4"
    with pytest.raises(UnknownStoreURL, match="protocol must be 2 or 3"):
        async with RedisStore(url, namespace=_ns(), driver="redis-py"):
            pass


@every_driver
async def test_open_store_refuses_an_unknown_client_option_too(
    redis_server: RedisServer, driver: DriverName
) -> None:
    redis_server.ensure_running()
    url = f"{redis_server.url}?namespace={_ns()}&driver={driver}&colour=blue"
    with pytest.raises(UnknownStoreURL, match=f"'colour' in the URL for driver '{driver}'"):
        async with open_store(url):
            pass


@every_driver
@pytest.mark.parametrize("spelling", ["connect_timeout", "socket_connect_timeout"])
async def test_known_client_options_and_the_connect_timeout_open(
    redis_server: RedisServer, driver: DriverName, spelling: str
) -> None:
    redis_server.ensure_running()
    url = f"{redis_server.url}?client_name=pf-options&{spelling}=2.5&db=0"
    async with RedisStore(url, namespace=_ns(), driver=driver) as store:
        await store.set("k", 1)
        assert await store.get("k") == 1


@every_driver
@pytest.mark.parametrize("spelling", ["connect_timeout", "socket_connect_timeout"])
async def test_tls_to_a_server_without_tls_fails_within_the_connect_timeout(
    redis_server: RedisServer, driver: DriverName, spelling: str
) -> None:
    """The server takes the TLS hello for the start of a command and waits
    for the rest: only the connect timeout ends the handshake."""
    redis_server.ensure_running()
    url = f"rediss://{redis_server.host}:{redis_server.port}/0?ssl_cert_reqs=none&{spelling}=0.2"
    with anyio.fail_after(30), pytest.raises(StoreUnavailable, match="cannot reach Redis"):
        async with RedisStore(url, namespace=_ns(), driver=driver):
            pass


@pytest.mark.parametrize(("anyio_backend", "driver"), [("asyncio", "coredis"), ("trio", "coredis")])
async def test_the_connect_timeout_is_five_seconds_by_default(
    redis_server: RedisServer, driver: DriverName
) -> None:
    """coredis had none (redis-py has 5 s): such a store hung for ever."""
    redis_server.ensure_running()
    url = f"rediss://{redis_server.host}:{redis_server.port}/0?ssl_cert_reqs=none"
    with anyio.fail_after(30), pytest.raises(StoreUnavailable, match="cannot reach Redis"):
        async with RedisStore(url, namespace=_ns(), driver=driver):
            pass


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://127.0.0.1:6379/abc", "the path must be the database's number"),
        ("redis://127.0.0.1:99999/0", "the port must be a number from 1 to 65535"),
        ("redis:///0", "name the server"),
    ],
)
def test_a_store_built_from_a_bad_url_says_what_is_wrong(url: str, message: str) -> None:
    # The same checks as open_store's, when the URL is given to RedisStore itself.
    with pytest.raises(UnknownStoreURL, match=message):
        RedisStore(url)
