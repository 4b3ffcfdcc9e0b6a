"""RedisStore when the server goes away: errors, reconnects, resumed followers;
and a command cancelled while the client connects, which is cancelled.

The server here is durable (append-only file, fsync always), so a restart
keeps every acknowledged write, as a production Redis with persistence
does; the tests kill it with SIGKILL.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn

import anyio
import pytest
import redis

from pepperflow import StoreUnavailable
from pepperflow.stores.redis import RedisStore
from pepperflow.stores.redis._commands import Commands
from pepperflow.stores.redis._drivers import Driver
from pepperflow.stores.redis._protocol import Arg, LogEntry, StatusArgs
from pepperflow.stores.redis._scripts import STATUS
from pepperflow.streams import Change, fold
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.anyio

_namespaces = itertools.count()


async def _write_until_acknowledged(store: RedisStore[int], key: str, value: int) -> None:
    with anyio.fail_after(10):
        while True:
            try:
                await store.set(key, value)
                return
            except StoreUnavailable:
                await anyio.sleep(0.05)


async def test_a_write_while_the_server_is_down_says_it_was_not_acknowledged(
    durable_server: RedisServer,
) -> None:
    durable_server.ensure_running()
    async with RedisStore(durable_server.url, namespace=f"down-{next(_namespaces)}") as store:
        await store.set("k", 1)
        durable_server.stop()
        try:
            with pytest.raises(StoreUnavailable, match="connection to Redis failed during set"):
                await store.set("k", 2)
            with pytest.raises(StoreUnavailable):
                await store.get("k")
        finally:
            durable_server.restart()
        await _write_until_acknowledged(store, "k", 3)
        entry = await store.entry("k")
        assert entry is not None
        assert entry.value == 3
        assert entry.version == 2, "the unacknowledged write was not applied"


async def test_a_failed_expiry_sweep_is_counted_and_retried(
    durable_server: RedisServer,
) -> None:
    durable_server.ensure_running()
    ns = f"sweep-{next(_namespaces)}"
    async with RedisStore(durable_server.url, namespace=ns, sweep_interval=0.05) as store:
        await store.set("t", 1, ttl=0.2)
        assert store.statistics().expiry_errors == 0
        durable_server.stop()
        try:
            await wait_until(lambda: store.statistics().expiry_errors > 0, "a failed sweep")
        finally:
            durable_server.restart()
        await wait_until(lambda: store.statistics().expired == 1, "the expiry, retried")
        assert not await store.exists("t")


async def test_a_follower_resumes_after_a_restart_without_gap_or_duplicate(
    durable_server: RedisServer,
) -> None:
    durable_server.ensure_running()
    ns = f"resume-{next(_namespaces)}"
    got: list[Change] = []
    async with (
        RedisStore(durable_server.url, namespace=ns) as writer,
        RedisStore(durable_server.url, namespace=ns) as follower,
    ):
        follower.subscribe(None, got.append)
        for i in range(30):
            await writer.set(f"k:{i % 7}", i)
        durable_server.restart()
        for i in range(30, 60):
            await _write_until_acknowledged(writer, f"k:{i % 7}", i)
        with anyio.fail_after(10):
            while not got or got[-1].seq < writer.statistics().seq:
                await anyio.sleep(0.01)
        state = {key: entry.value for key, entry in fold(got).items()}
        expected = {key: await writer.get(key) for key in state}
    seqs = [change.seq for change in got]
    assert seqs == list(range(1, len(seqs) + 1)), "a change was lost or repeated"
    assert state == expected
    assert state == {f"k:{i % 7}": i for i in range(53, 60)}


async def test_scripts_the_server_forgot_are_loaded_again(durable_server: RedisServer) -> None:
    durable_server.ensure_running()
    async with RedisStore(durable_server.url, namespace=f"flush-{next(_namespaces)}") as store:
        await store.set("k", 1)
        with redis.Redis(host=durable_server.host, port=durable_server.port) as raw:
            raw.script_flush()
        assert await store.set("k", 2) == 2
        assert await store.delete("k")


class _CancelledConnecting(Driver):
    """A driver whose every command waits for a connection and turns its
    caller's cancellation into a connection error, as coredis's pool does
    on trio (a new connection starts in its caller's cancel scope)."""

    connection_errors = (ConnectionError,)
    client = None

    async def aclose(self) -> None:
        pass

    async def _connect(self) -> NoReturn:
        try:
            await anyio.sleep_forever()
            raise AssertionError("sleep_forever returned")
        except anyio.get_cancelled_exc_class() as exc:
            raise ConnectionError("Unable to establish a connection") from exc

    async def script_load(self, source: str) -> None:
        await self._connect()

    async def _client_evalsha(self, sha: str, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        await self._connect()

    async def get(self, key: str) -> bytes | None:
        await self._connect()

    async def xread(self, stream: str, after: str, count: int, block_ms: int) -> list[LogEntry]:
        await self._connect()

    def _entries(self, reply: Any) -> list[LogEntry]:
        raise AssertionError("no reply comes")


@pytest.mark.parametrize("command", ["load_scripts", "call", "read", "get", "xread"])
async def test_a_command_cancelled_while_the_client_connects_is_cancelled(command: str) -> None:
    commands = Commands("cancelled", 100, "<RedisStore 'cancelled'>", lambda: None)
    commands.driver = _CancelledConnecting()
    run: dict[str, Callable[[], Awaitable[object]]] = {
        "load_scripts": commands.load_scripts,
        "call": lambda: commands.call(STATUS, StatusArgs(False, "")),
        "read": lambda: commands.read(STATUS, StatusArgs(False, "")),
        "get": lambda: commands.get("k"),
        "xread": lambda: commands.xread(0, 1000),
    }
    with anyio.move_on_after(0.01) as scope:
        await run[command]()
    assert scope.cancelled_caught, "a cancelled caller is cancelled, not told Redis is unavailable"
