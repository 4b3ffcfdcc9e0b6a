"""RedisStore when Redis answers but will not run a command: it is loading
its dataset (``LOADING``, after a restart) or it refuses the login. Every
operation, on both drivers, raises StoreUnavailable saying what happened,
whether anything was applied and whether a retry helps.

Loading is made slow and deterministic: ``DEBUG RELOAD`` reloads the
server's dataset with ``key-load-delay`` making each key take 50 ms (more
than 8 minutes for the filler keys; the server answers between two keys),
and the test ends it by setting the delay to 0.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import time
from collections.abc import Iterator

import anyio
import pytest
import redis

from pepperflow import StoreUnavailable
from pepperflow.stores.redis import DriverName, RedisStore
from pepperflow.streams import SetChange
from tests.conformance.test_redis_conformance import DRIVERS
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize(("anyio_backend", "driver"), DRIVERS)]

_namespaces = itertools.count()
_LOADING = "Redis refused a command .*: it is loading its dataset .*not applied: retry once"
_FILLER_KEYS = 10_000  # 50 ms each while loading: 500 s


@pytest.fixture(scope="module")
def loading_server() -> Iterator[RedisServer]:
    """A private server with DEBUG and filler keys of more than 1 kB each, so
    that while it loads, it answers (LOADING) after each key."""
    server = RedisServer(options=["--enable-debug-command", "local", "--rdbcompression", "no"])
    server.start()
    try:
        with redis.Redis(host=server.host, port=server.port) as raw:
            raw.config_set("loading-process-events-interval-bytes", 1024)
            with raw.pipeline(transaction=False) as pipe:
                for i in range(_FILLER_KEYS):
                    pipe.set(f"filler:{i}", b"x" * 1100)
                pipe.execute()
        yield server
    finally:
        server.close()


def _loading_reply(server: RedisServer) -> bytes:
    """A new connection's reply to PING (b"-LOADING ..." while loading)."""
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(64)


@contextlib.contextmanager
def _loading(server: RedisServer) -> Iterator[None]:
    """The server loads its dataset (DEBUG RELOAD) for the block's duration."""
    with redis.Redis(host=server.host, port=server.port) as raw:
        raw.config_set("key-load-delay", 50_000)  # microseconds per key
        with socket.create_connection((server.host, server.port), timeout=30) as reload:
            reload.sendall(b"DEBUG RELOAD\r\n")
            try:
                deadline = time.monotonic() + 30
                while not _loading_reply(server).startswith(b"-LOADING"):
                    # DEBUG RELOAD saves first, then loads
                    assert time.monotonic() < deadline, "the server never started loading"
                yield
            finally:
                raw.config_set("key-load-delay", 0)  # CONFIG runs while loading
                assert reload.recv(64) == b"+OK\r\n", "the reload ends"


async def test_while_redis_loads_its_dataset_every_operation_says_so(
    loading_server: RedisServer, driver: DriverName
) -> None:
    ns = f"loading-{next(_namespaces)}"
    url = loading_server.url
    async with RedisStore(url, namespace=ns, driver=driver) as store:
        await store.set("k", 1)
        async with store.changes() as feed:
            with _loading(loading_server):
                with pytest.raises(StoreUnavailable, match=_LOADING):
                    await store.set("k", 2)
                with pytest.raises(StoreUnavailable, match=_LOADING):
                    await store.delete("k")
                with pytest.raises(StoreUnavailable, match=_LOADING):
                    await store.get("k")
                with pytest.raises(StoreUnavailable, match=_LOADING):
                    await store.get_many(["k"])
                with pytest.raises(StoreUnavailable, match=_LOADING):
                    async with store.changes(replay=True):
                        pass
                with pytest.raises(StoreUnavailable, match=_LOADING):
                    async with RedisStore(url, namespace=ns, driver=driver):
                        pass
            assert await store.set("k", 3) == 2, "no write made while loading was applied"
            with anyio.fail_after(10):
                change = await anext(feed)
        assert isinstance(change, SetChange)
        assert (change.key, change.value, change.version) == ("k", 3, 2)
        assert change.seq == 2, "the feed goes on with no gap"
        async with store.changes(replay=True) as replay:
            with anyio.fail_after(10):
                state = await anext(replay)
        assert isinstance(state, SetChange)
        assert (state.key, state.value, state.seq) == ("k", 3, 2)


_LOGIN = "Redis refused the login .*nothing was applied.*user and password are right"


async def test_a_refused_login_is_store_unavailable_saying_so(driver: DriverName) -> None:
    with RedisServer() as server, redis.Redis(host=server.host, port=server.port) as raw:
        ns = f"login-{next(_namespaces)}"
        raw.config_set("requirepass", "right")
        raw.auth("right")
        wrong = f"redis://:wrong@{server.host}:{server.port}/0"
        with pytest.raises(StoreUnavailable, match=_LOGIN) as refused:
            async with RedisStore(wrong, namespace=ns, driver=driver):
                pass
        assert "wrong" not in str(refused.value), "the password is never printed"

        right = f"redis://:right@{server.host}:{server.port}/0"
        async with RedisStore(right, namespace=ns, driver=driver) as store:
            await store.set("k", 1)
            raw.config_set("requirepass", "changed")
            raw.client_kill_filter(_type="normal", skipme=True)  # they log in again
            for _ in range(3):  # the first command may find its connection closed
                with pytest.raises(StoreUnavailable) as failed:
                    await store.set("k", 2)
                if "refused the login" in str(failed.value):
                    break
            with pytest.raises(StoreUnavailable, match=_LOGIN):
                await store.set("k", 2)
            with pytest.raises(StoreUnavailable, match=_LOGIN):
                await store.get("k")
            with pytest.raises(StoreUnavailable, match=_LOGIN):
                async with store.changes(replay=True):
                    pass
            raw.config_set("requirepass", "right")
            assert await store.set("k", 3) == 2, "no write was applied while refused"
