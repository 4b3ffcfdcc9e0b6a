"""RedisStore when the server goes away: errors, reconnects, resumed feeds;
and a command cancelled while the client connects, which is cancelled.

The servers here are durable (append-only file, fsync always), so a
restart keeps every acknowledged write, as a production Redis with
persistence does. The server is stopped with ``SHUTDOWN`` or killed with
SIGKILL while tasks write, and killed while a feed reads a large state
for its replay. Every driver, on asyncio and trio.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn

import anyio
import anyio.abc
import pytest
import redis

from pepperflow import StoreUnavailable
from pepperflow.stores.redis import DriverName, RedisStore
from pepperflow.stores.redis._commands import Commands
from pepperflow.stores.redis._drivers import Driver
from pepperflow.stores.redis._protocol import Arg, LogEntry, StatusArgs
from pepperflow.stores.redis._scripts import SNAPSHOT, STATUS
from pepperflow.streams import Change, SetChange, fold
from tests.conformance.test_redis_conformance import DRIVERS
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.anyio
every_driver = pytest.mark.parametrize(("anyio_backend", "driver"), DRIVERS)

_namespaces = itertools.count()


async def _write_until_acknowledged(store: RedisStore[Any], key: str, value: int) -> int:
    """Set ``key`` until a write is acknowledged (a refused one may have been
    applied too); its version."""
    with anyio.fail_after(10):
        while True:
            try:
                return await store.set(key, value)
            except StoreUnavailable:
                await anyio.sleep(0.05)


async def _until_seq(changes: list[Change], seq: int) -> None:
    """Wait until ``changes`` (a subscriber's) reached ``seq``; fail after 10 s."""
    with anyio.fail_after(10):
        while not changes or changes[-1].seq < seq:
            await anyio.sleep(0.01)


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


async def _take_until_seq(feed: Any, seq: int) -> list[Change]:
    """A feed's changes up to ``seq``; fail after 10 s."""
    taken: list[Change] = []
    with anyio.fail_after(10):
        while not taken or taken[-1].seq < seq:
            taken.append(await anext(feed))
    return taken


def _without_gap_or_duplicate(changes: Sequence[Change], first: int) -> None:
    seqs = [change.seq for change in changes]
    assert seqs == list(range(first, first + len(seqs))), "a change was lost or repeated"


_WRITERS, _WRITES = 4, 25


@every_driver
@pytest.mark.parametrize("how", ["shutdown", "sigkill"])
async def test_acknowledged_writes_survive_a_server_that_dies_while_tasks_write(
    durable_server: RedisServer, driver: DriverName, how: str
) -> None:
    durable_server.ensure_running()
    ns = f"dies-{next(_namespaces)}"
    url = durable_server.url
    acknowledged: list[tuple[str, int, int]] = []  # key, value, version
    refused = 0
    got: list[Change] = []
    dying, writes_refused = anyio.Event(), anyio.Event()

    async with (
        RedisStore(url, namespace=ns, driver=driver) as writer,
        RedisStore(url, namespace=ns, driver=driver) as reader,
        writer.changes() as own,
    ):
        reader.subscribe(None, got.append)

        async def write(task: int) -> None:
            nonlocal refused
            for value in range(_WRITES):
                while True:
                    try:
                        version = await writer.set(f"k{task}", value)
                        break
                    except StoreUnavailable:  # never anything else
                        refused += 1
                        if refused >= _WRITERS:
                            writes_refused.set()
                        await anyio.sleep(0.01)
                acknowledged.append((f"k{task}", value, version))
                if len(acknowledged) == 40:
                    dying.set()

        async def outage() -> None:
            await dying.wait()
            durable_server.shutdown() if how == "shutdown" else durable_server.stop()
            with pytest.raises(StoreUnavailable, match="not acknowledged: it may or may not"):
                await writer.set("during", 1)
            await writes_refused.wait()
            durable_server.start()

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for task in range(_WRITERS):
                    tg.start_soon(write, task)
                tg.start_soon(outage)
        last = writer.statistics().seq
        await _until_seq(got, last)
        own_changes = await _take_until_seq(own, last)
        final = await writer.get_many(f"k{task}" for task in range(_WRITERS))

    _without_gap_or_duplicate(got, 1)
    assert [c.seq for c in own_changes] == [c.seq for c in got], "both feeds saw one history"
    sets = {(c.key, c.value, c.version) for c in got if isinstance(c, SetChange)}
    assert set(acknowledged) <= sets, "an acknowledged write was lost"
    assert final == {f"k{task}": _WRITES - 1 for task in range(_WRITERS)}
    assert {key: change.value for key, change in fold(got).items() if key != "during"} == final


_STATE = 20_000  # entries of about 1 kB: a replay reply larger than the sockets' buffers


async def _kill_on_snapshot(
    server: RedisServer, *, task_status: anyio.abc.TaskStatus[None]
) -> None:
    """Kill ``server`` (SIGKILL) as soon as it runs the snapshot script (MONITOR)."""
    async with await anyio.connect_tcp(server.host, server.port) as monitor:
        await monitor.send(b"MONITOR\r\n")
        seen = await monitor.receive()
        assert seen.startswith(b"+OK"), seen
        task_status.started()
        sha = SNAPSHOT.sha.encode()
        while sha not in seen:
            seen = seen[-len(sha) :] + await monitor.receive()
        server.stop()


@every_driver
async def test_a_replay_cut_by_a_dying_server_fails_whole_and_feeds_resume(
    driver: DriverName,
) -> None:
    ns = f"cut-{next(_namespaces)}"
    filler = "x" * 1000
    expected: dict[str, object] = {f"k:{i}": f"{filler}{i}" for i in range(_STATE)}
    with RedisServer(durable=True) as server:
        async with (
            RedisStore(server.url, namespace=ns, driver=driver) as writer,
            RedisStore(server.url, namespace=ns, driver=driver) as reader,
        ):
            items = list(expected.items())
            for start in range(0, _STATE, 1000):
                await writer.set_many(dict(items[start : start + 1000]))
            # Unread until the end: a buffer for every change it may get.
            async with reader.changes(buffer=2 * _STATE) as live:
                cut: list[Change] | None = None
                with anyio.fail_after(60):
                    async with anyio.create_task_group() as tg:
                        await tg.start(_kill_on_snapshot, server)
                        try:
                            async with reader.changes(replay=True) as feed:
                                cut = [await anext(feed) for _ in range(_STATE)]
                        except StoreUnavailable:
                            cut = None  # the replay failed whole, as it should when cut
                if cut is not None:  # the reply came whole before the server died
                    assert {key: change.value for key, change in fold(cut).items()} == expected
                server.start()
                for i in range(5):
                    await _write_until_acknowledged(writer, f"after:{i}", i)
                expected |= {f"after:{i}": i for i in range(5)}
                last = writer.statistics().seq
                async with reader.changes(replay=True) as feed:
                    replayed = await _take_until_seq(feed, last)
                live_changes = await _take_until_seq(live, last)
    assert {key: change.value for key, change in fold(replayed).items()} == expected
    assert len(replayed) == len(expected), "the replay is the state: one change per key"
    # The live feed starts at the newest seq the reader knew (it may trail a
    # little when nothing of it listened), then misses nothing.
    _without_gap_or_duplicate(live_changes, live_changes[0].seq)
    assert [(c.key, c.value) for c in live_changes[-5:] if isinstance(c, SetChange)] == [
        (f"after:{i}", i) for i in range(5)
    ]


@every_driver
async def test_scripts_the_server_forgot_are_loaded_again(
    durable_server: RedisServer, driver: DriverName
) -> None:
    durable_server.ensure_running()
    ns = f"flush-{next(_namespaces)}"
    async with RedisStore(durable_server.url, namespace=ns, driver=driver) as store:
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
