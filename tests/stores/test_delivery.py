"""Delivery on every backend (MemoryStore, SqliteStore, RedisStore on both drivers):
each change in its writer's task, what a cancelled writer leaves, and
``callback_timeout`` (a callback that overruns it is cancelled, logged,
counted and skipped).

A callback that never returns, without a ``callback_timeout``, is the
conformance check ``check_hung_callback`` (pepperflow.testing).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import anyio
import anyio.lowlevel
import pytest

from pepperflow import InvalidDuration, UnknownStoreURL, open_store
from pepperflow.stores import MemoryStore, RedisStore, SqliteStore, Store
from pepperflow.stores.redis import DriverName
from pepperflow.streams import Change, SetChange
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_for

pytestmark = pytest.mark.anyio

_namespaces = itertools.count()

#: Every backend, with the event loops it runs on.
BACKENDS = [
    ("asyncio", "memory"),
    ("trio", "memory"),
    ("asyncio", "sqlite"),
    ("trio", "sqlite"),
    ("asyncio", "redis-py"),
    ("asyncio", "coredis"),
    ("trio", "coredis"),
]

MakeStore = Callable[..., Store[Any]]


@pytest.fixture
def make_store(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> MakeStore:
    """``make_store(**options)``: a new, empty, unopened store of ``backend``."""

    def make(**options: Any) -> Store[Any]:
        namespace = f"delivery-{next(_namespaces)}"
        if backend == "memory":
            return MemoryStore(namespace, **options)
        if backend == "sqlite":
            return SqliteStore(tmp_path / "store.db", namespace=namespace, **options)
        server: RedisServer = request.getfixturevalue("redis_server")
        server.ensure_running()
        driver = cast(DriverName, backend)
        store: Store[Any] = RedisStore(server.url, namespace=namespace, driver=driver, **options)
        return store

    return make


class Hung:
    """A callback that never returns (until the test ends): it records its calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.cancelled: list[str] = []
        self.release = anyio.Event()

    async def __call__(self, change: Change) -> None:
        self.calls.append(change.key)
        try:
            await self.release.wait()
        except anyio.get_cancelled_exc_class():
            self.cancelled.append(change.key)
            raise


@pytest.mark.parametrize(("anyio_backend", "backend"), BACKENDS)
async def test_each_change_is_delivered_in_the_task_of_its_writer(make_store: MakeStore) -> None:
    """So cancelling a writer reaches the callbacks running for its change, and no other."""
    async with make_store() as store, anyio.create_task_group() as tg:
        delivered_in: dict[str, int] = {}
        written_in: dict[str, int] = {}
        first_called, go_on = anyio.Event(), anyio.Event()

        async def record(change: Change) -> None:
            delivered_in[change.key] = anyio.get_current_task().id
            if change.key == "a":
                first_called.set()
                await go_on.wait()

        async def write(key: str) -> None:
            written_in[key] = anyio.get_current_task().id
            await store.set(key, 1)

        store.subscribe(None, record)
        tg.start_soon(write, "a")
        await first_called.wait()
        tg.start_soon(write, "b")  # commits while "a" is being delivered: it waits its turn
        while await store.get("b") is None:
            await anyio.sleep(0.005)
        go_on.set()
    assert delivered_in == written_in


@pytest.mark.parametrize(("anyio_backend", "backend"), BACKENDS)
async def test_a_cancelled_writer_leaves_its_change_to_the_store(make_store: MakeStore) -> None:
    """Cancelled before, while or after its commit: the change reaches every subscriber."""
    async with make_store() as store:
        seen: list[Change] = []
        store.subscribe(None, seen.append)
        async with anyio.create_task_group() as tg:
            for i in range(50):
                tg.start_soon(store.set, f"k{i % 5}", i)
            await anyio.lowlevel.checkpoint()
            tg.cancel_scope.cancel()
        await store.set("after", 1)
        await wait_for(seen, store.statistics().seq)
        seqs = [change.seq for change in seen]
        assert seqs == sorted(set(seqs)), "once each, in commit order"
        assert "after" in [change.key for change in seen]


async def test_a_store_not_running_delivers_a_cancelled_writers_rest_in_its_task() -> None:
    """A MemoryStore outside ``async with`` has no task of its own: the cancelled
    writer delivers the rest before it returns (shielded)."""
    store = MemoryStore()
    hung = Hung()
    seen: list[str] = []
    store.subscribe("k", hung)
    store.subscribe("k", lambda change: seen.append(change.key))
    with anyio.CancelScope() as scope:
        scope.cancel()
        await store.set("k", 1)
    assert hung.cancelled == ["k"] and seen == ["k"]


@pytest.mark.parametrize(("anyio_backend", "backend"), BACKENDS)
async def test_a_callback_that_overruns_is_cancelled_logged_counted_and_skipped(
    make_store: MakeStore, caplog: pytest.LogCaptureFixture
) -> None:
    before: list[str] = []
    after: list[str] = []
    hung = Hung()
    async with make_store(callback_timeout=0.05) as store:
        store.subscribe("k", lambda change: before.append(change.key))
        store.subscribe("k", hung)
        store.subscribe("k", lambda change: after.append(change.key))
        with caplog.at_level(logging.ERROR, logger="pepperflow"), anyio.fail_after(10):
            await store.set("k1", 1)
            await store.set("k2", 2)
        hung.release.set()
        assert hung.calls == hung.cancelled == ["k1", "k2"]
        assert before == after == ["k1", "k2"], "the other subscribers get every change"
        assert store.statistics().callback_errors == 2
        assert await store.get("k2") == 2
    records = [r for r in caplog.records if r.name == "pepperflow"]
    assert len(records) == 2
    message = records[0].getMessage()
    for part in (repr(store.name), "'k1'", "seq 1", "Hung", "callback_timeout (0.05 s)"):
        assert part in message, f"{part} not in {message!r}"


@pytest.mark.parametrize(("anyio_backend", "backend"), BACKENDS)
async def test_the_timeout_frees_the_stores_own_task_too(make_store: MakeStore) -> None:
    """An expiry is delivered by the store's task: a hung callback there is cut short too."""
    hung = Hung()
    async with make_store(callback_timeout=0.05) as store:
        store.subscribe("t", hung)
        seen: list[Change] = []
        store.subscribe(None, seen.append)
        await store.set("t", 1, ttl=0.1)
        await wait_for(seen, 2)  # the set, then its expiry, whoever delivered it
        await store.set("k", 1)
        hung.release.set()
        assert [type(c).__name__ for c in seen] == ["SetChange", "ExpireChange", "SetChange"]
        assert store.statistics().callback_errors == 2


@pytest.mark.parametrize(("anyio_backend", "backend"), BACKENDS)
async def test_a_sync_callbacks_awaitable_is_bounded_too(make_store: MakeStore) -> None:
    hung = Hung()
    async with make_store(callback_timeout=timedelta(milliseconds=50)) as store:
        store.subscribe("k", lambda change: hung(change))
        with anyio.fail_after(10):
            await store.set("k", 1)
        hung.release.set()
        assert hung.cancelled == ["k"]
        assert store.statistics().callback_errors == 1


@pytest.mark.parametrize(("anyio_backend", "backend"), BACKENDS)
async def test_a_full_feed_keeps_its_overflow_policy(make_store: MakeStore) -> None:
    """Feeds are not callbacks: a full "block" feed holds its writer past the timeout."""
    async with (
        make_store(callback_timeout=0.01) as store,
        store.changes("f", buffer=1, overflow="block") as feed,
    ):
        await store.set("f", 1)
        with anyio.move_on_after(0.5) as scope:
            await store.set("f", 2)
        assert scope.cancelled_caught, "the writer waited for the consumer, not 0.01 s"
        first = await feed.__anext__()
        assert isinstance(first, SetChange) and first.value == 1
        assert feed.statistics().dropped == 0
        assert store.statistics().callback_errors == 0


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "1", True, timedelta(0)])
def test_callback_timeout_is_checked_when_the_store_is_made(bad: Any, tmp_path: Path) -> None:
    makers: list[Callable[[], object]] = [
        lambda: MemoryStore(callback_timeout=bad),
        lambda: SqliteStore(tmp_path / "x.db", callback_timeout=bad),
        lambda: RedisStore("redis://127.0.0.1:1/0", callback_timeout=bad),
    ]
    for make in makers:
        with pytest.raises(InvalidDuration, match="callback_timeout"):
            make()
    assert not (tmp_path / "x.db").exists(), "nothing is made when an option is bad"


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_callback_timeout_in_urls(tmp_path: Path, redis_server: RedisServer) -> None:
    redis_server.ensure_running()
    urls = [
        f"sqlite:///{tmp_path / 'x.db'}?callback_timeout=0.05",
        f"{redis_server.url}?namespace=url-{next(_namespaces)}&callback_timeout=0.05",
    ]
    for url in urls:
        hung = Hung()
        async with open_store(url) as store:
            store.subscribe("k", hung)
            with anyio.fail_after(10):
                await store.set("k", 1)
            hung.release.set()
            assert hung.cancelled == ["k"] and store.statistics().callback_errors == 1
    for bad in ("abc", "0", "nan"):
        for url in (
            f"sqlite:///x.db?callback_timeout={bad}",
            f"redis://h/0?callback_timeout={bad}",
        ):
            with pytest.raises(UnknownStoreURL, match="callback_timeout"):
                open_store(url)


@pytest.mark.parametrize(("anyio_backend", "backend"), BACKENDS)
async def test_subscribers_of_every_key_and_of_a_prefix_each_get_theirs(
    make_store: MakeStore,
) -> None:
    """A write delivers at once to a lone subscriber of every key (a sync
    callback: its awaitable awaited, its error counted), and a subscriber
    added or removed later changes who gets the next change."""
    everything: list[str] = []
    users: list[Change] = []
    awaited: list[str] = []

    def on_any(change: Change) -> Any:
        everything.append(change.key)
        if change.key == "fail":
            raise RuntimeError("callback error")
        if change.key == "slow":

            async def later() -> None:
                await anyio.lowlevel.checkpoint()
                awaited.append(change.key)

            return later()
        return None

    async with make_store() as store:
        with store.subscribe(None, on_any):
            await store.set("plain", 1)
            await store.set("slow", 1)
            assert awaited == ["slow"], "the callback's awaitable is awaited before set returns"
            await store.set("fail", 1)
            assert store.statistics().callback_errors == 1
            with store.subscribe("user:", users.append):
                await store.set("user:1", 1)
                await store.set("job:1", 1)
            await store.set("user:2", 1)
        await store.set("after", 1)
    assert everything == ["plain", "slow", "fail", "user:1", "job:1", "user:2"]
    assert [change.key for change in users] == ["user:1"]


@pytest.mark.parametrize(("anyio_backend", "backend"), BACKENDS[:2])
async def test_writers_queued_behind_a_full_feed_write_straight_through_again(
    make_store: MakeStore,
) -> None:
    """Only a feed gets the changes: writers that queued behind it while it was
    full are not handed the delivery one after another (a pass of the event
    loop for every write); once their queue is delivered, they write with no
    wait again, until the feed is full the next time."""
    writes, writers = 4000, 4
    passes, writing = 0, True
    async with (
        make_store() as store,
        store.changes(None, buffer=100, overflow="block") as feed,
        anyio.create_task_group() as tg,
    ):

        async def count_passes() -> None:
            nonlocal passes
            while writing:
                await anyio.lowlevel.checkpoint()
                passes += 1

        async def consume() -> None:
            received = 0
            async for _ in feed:
                received += 1
                if received == writes:
                    return

        async def write(w: int) -> None:
            for i in range(writes // writers):
                await store.set(f"k{w}:{i}", i)

        tg.start_soon(count_passes)
        tg.start_soon(consume)
        async with anyio.create_task_group() as group:
            for w in range(writers):
                group.start_soon(write, w)
        writing = False
    assert store.statistics().seq == writes
    assert passes < writes / 10, f"{passes} passes of the event loop for {writes} writes"
