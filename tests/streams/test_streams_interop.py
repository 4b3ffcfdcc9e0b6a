"""Store change feeds and subjects are aioreactive observables: its pure operators compose."""

from __future__ import annotations

import itertools
import logging
from typing import Any

import aioreactive as rx
import anyio
import anyio.lowlevel
import pytest
from aioreactive import AsyncObservable, AsyncObserver
from expression import Nothing, Option, Some

from pepperflow.stores import MemoryStore, RedisStore, SqliteStore, Store
from pepperflow.streams import Change, LatestSubject, SetChange, Subject, pipe, to_async_iterator

pytestmark = pytest.mark.anyio


class Recorder(AsyncObserver[Any]):
    """Records what it receives; ``ended`` is set by the terminal."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.errors: list[Exception] = []
        self.closed = False
        self.ended = anyio.Event()

    async def asend(self, value: Any) -> None:
        self.values.append(value)

    async def athrow(self, error: Exception) -> None:
        self.errors.append(error)
        self.ended.set()

    async def aclose(self) -> None:
        self.closed = True
        self.ended.set()


def values_of(changes: list[Change]) -> list[Any]:
    return [c.value if isinstance(c, SetChange) else None for c in changes]


async def test_map_and_filter_compose_with_a_store_feed() -> None:
    async with MemoryStore() as store:
        recorder = Recorder()

        def is_set(change: Change) -> bool:
            return isinstance(change, SetChange)

        def tenfold(change: Change) -> int:
            assert isinstance(change, SetChange)
            return int(change.value) * 10

        pipeline = rx.pipe(store.changes("n:"), rx.filter(is_set), rx.map(tenfold))
        sub = await pipeline.subscribe_async(recorder)
        for i in range(5):
            await store.set(f"n:{i}", i)
        await store.set("other", 99)
        await store.delete("n:0")
        await sub.dispose_async()
        await store.set("n:9", 9)  # after dispose: not seen
    assert recorder.values == [0, 10, 20, 30, 40]


async def test_scan_choose_and_starmap_compose_with_a_subject() -> None:
    def even(x: int) -> Option[int]:
        return Some(x) if x % 2 == 0 else Nothing

    def add(total: int, x: int) -> int:
        return total + x

    def pair(x: int) -> tuple[int, int]:
        return x, x + 1

    subject: Subject[int] = Subject()
    recorder = Recorder()
    pipeline = rx.pipe(
        subject,
        rx.scan(add, 0),  # 1 3 6 10 15 21
        rx.choose(even),  # 6 10
        rx.map(pair),
        rx.starmap(lambda a, b: a * b),
    )
    await pipeline.subscribe_async(recorder)
    for i in range(1, 7):
        await subject.asend(i)
    await subject.aclose()
    assert recorder.values == [42, 110]
    assert recorder.closed


async def test_catch_switches_to_a_pepperflow_observable() -> None:
    fallback: LatestSubject[str] = LatestSubject()
    await fallback.asend("fallback")
    await fallback.aclose()
    source: Subject[str] = Subject()
    recorder = Recorder()
    await rx.pipe(source, rx.catch(lambda exc: fallback)).subscribe_async(recorder)
    await source.asend("a")
    await source.athrow(RuntimeError("boom"))
    assert recorder.values == ["a", "fallback"]
    assert recorder.closed
    assert not recorder.errors


async def test_pepperflow_pipe_is_aioreactives() -> None:
    assert pipe is rx.pipe


async def test_replay_then_live_without_gap_or_duplicate_under_concurrent_writers() -> None:
    async with MemoryStore() as store:
        for i in range(50):
            await store.set(f"k{i}", 0)
        seen: dict[str, int] = {}
        dup = []

        async def observe(change: Change) -> None:
            assert isinstance(change, SetChange)
            if seen.get(change.key, -1) >= change.version:
                dup.append(change)
            seen[change.key] = change.version
            await anyio.lowlevel.checkpoint()  # writers interleave with the replay

        async def writer(n: int) -> None:
            for round_ in range(20):
                await store.set(f"k{(n * 7 + round_) % 50}", round_)
                await anyio.lowlevel.checkpoint()

        async with anyio.create_task_group() as tg:
            for n in range(3):
                tg.start_soon(writer, n)
            await anyio.lowlevel.checkpoint()
            sub = await store.changes("k", replay=True).subscribe_async(observe)
        await sub.dispose_async()
        entries = {key: (await store.entry(key)) for key in seen}
        assert len(seen) == 50
        assert not dup
        assert all(entries[key] is not None for key in seen)
        assert {k: e.version for k, e in entries.items() if e} == seen


async def test_the_writer_waits_for_the_observer() -> None:
    async with MemoryStore() as store:
        release = anyio.Event()
        took: list[Any] = []

        async def slow(change: Change) -> None:
            await release.wait()
            took.append(change.key)

        await store.changes().subscribe_async(slow)
        done = anyio.Event()

        async def write() -> None:
            await store.set("a", 1)
            done.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(write)
            await anyio.sleep(0.01)
            assert not done.is_set()  # backpressure: the set has not returned
            release.set()
        assert took == ["a"]


async def test_set_many_reaches_an_observer_in_commit_order_with_its_own_writes_after() -> None:
    async with MemoryStore() as store:
        seen: list[tuple[str, Any]] = []

        async def echo(change: Change) -> None:
            assert isinstance(change, SetChange)
            seen.append((change.key, change.value))
            if change.key == "b":
                await store.set("echo", 9)  # from inside the delivery of a batch

        await store.changes().subscribe_async(echo)
        with anyio.fail_after(5):
            await store.set_many({"a": 1, "b": 2, "c": 3})
        assert seen == [("a", 1), ("b", 2), ("c", 3), ("echo", 9)]


async def test_a_writer_cancelled_during_set_many_leaves_the_rest_to_the_store() -> None:
    async with MemoryStore() as store:
        entered, release = anyio.Event(), anyio.Event()
        seen: list[str] = []

        async def slow(change: Change) -> None:
            seen.append(change.key)
            if change.key == "b":
                entered.set()
                await release.wait()

        await store.changes().subscribe_async(slow)
        async with anyio.create_task_group() as tg:
            tg.start_soon(store.set_many, {"a": 1, "b": 2, "c": 3, "d": 4})
            await entered.wait()
            tg.cancel_scope.cancel()  # the writer stops waiting; its changes go on
        release.set()
        with anyio.fail_after(5):
            await store.set("e", 5)  # after the store delivered the rest, in order
        assert seen == ["a", "b", "c", "d", "e"]


async def test_an_observer_error_goes_to_its_athrow_and_ends_the_subscription() -> None:
    async with MemoryStore() as store:
        recorder = Recorder()
        boom = ValueError("boom")

        async def fail_on_b(change: Change) -> None:
            if change.key == "b":
                raise boom
            await recorder.asend(change.key)

        await store.changes().subscribe_async(fail_on_b, recorder.athrow, recorder.aclose)
        await store.set("a", 1)
        await store.set("b", 1)  # the writer is unaffected
        await store.set("c", 1)
        assert recorder.values == ["a"]
        assert recorder.errors == [boom]
        assert store.statistics().feeds == 0
        assert store.statistics().callback_errors == 0


async def test_an_athrow_that_raises_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async with MemoryStore() as store:

        async def send(change: Change) -> None:
            raise ValueError("in asend")

        async def throw(error: Exception) -> None:
            raise RuntimeError("in athrow")

        await store.changes().subscribe_async(send, throw)
        with caplog.at_level(logging.ERROR, logger="pepperflow"):
            await store.set("a", 1)
    assert "athrow raised" in caplog.text
    assert "in athrow" in caplog.text


_namespaces = itertools.count()


def open_backend(backend: str, request: pytest.FixtureRequest, anyio_backend: str) -> Store[Any]:
    if backend == "memory":
        return MemoryStore()
    if backend == "sqlite":
        return SqliteStore(request.getfixturevalue("tmp_path") / "db.sqlite")
    server = request.getfixturevalue("redis_server")
    server.ensure_running()
    return RedisStore(
        server.url,
        namespace=f"streams-{next(_namespaces)}",
        driver="redis-py" if anyio_backend == "asyncio" else "coredis",
    )


@pytest.mark.parametrize("backend", ["memory", "sqlite", "redis"])
async def test_every_backend_replays_follows_and_closes_observers(
    backend: str, request: pytest.FixtureRequest, anyio_backend: str
) -> None:
    store = open_backend(backend, request, anyio_backend)
    recorder = Recorder()
    async with store:
        await store.set("a", 1)
        sub = await store.changes(replay=True).subscribe_async(recorder)
        await store.set("b", 2)
        await store.delete("a")
        with anyio.fail_after(5):
            while len(recorder.values) < 3:
                await anyio.sleep(0.01)
        assert store.statistics().feeds == 1
        other = await store.changes().subscribe_async(Recorder())
        await other.dispose_async()
        assert store.statistics().feeds == 1
    seen = [(type(c).__name__, c.key) for c in recorder.values]
    assert seen == [("SetChange", "a"), ("SetChange", "b"), ("DeleteChange", "a")]
    assert recorder.closed
    assert not recorder.errors
    await sub.dispose_async()  # after the end: harmless


async def test_a_store_closing_during_asend_closes_after_it() -> None:
    store = MemoryStore()
    order: list[str] = []
    entered = anyio.Event()
    release = anyio.Event()

    async def slow(change: Change) -> None:
        order.append("asend start")
        entered.set()
        await release.wait()
        order.append("asend end")

    async def close() -> None:
        order.append("aclose")

    async with anyio.create_task_group() as tg:  # the store is not run: it closes from here
        await store.changes().subscribe_async(slow, None, close)
        tg.start_soon(store.set, "a", 1)
        await entered.wait()
        await store.aclose()
        order.append("store closed")
        release.set()
    assert order == ["asend start", "store closed", "asend end", "aclose"]


async def test_subscribing_to_a_closed_store_fails() -> None:
    store = MemoryStore()
    await store.aclose()
    with pytest.raises(anyio.ClosedResourceError):
        await store.changes().subscribe_async(Recorder())


async def test_overflow_policies_other_than_block_are_refused_with_a_pointer() -> None:
    async with MemoryStore() as store:
        with pytest.raises(ValueError, match="latest_per_key"):
            await store.changes(overflow="drop_oldest").subscribe_async(Recorder())


async def test_an_observer_writing_to_its_store_during_the_replay_does_not_deadlock() -> None:
    async with MemoryStore() as store:
        await store.set("a", 1)
        await store.set("b", 1)
        seen: list[tuple[str, Any]] = []

        async def echo(change: Change) -> None:
            assert isinstance(change, SetChange)
            seen.append((change.key, change.value))
            if change.key in ("a", "b") and change.value == 1:
                await store.set(f"echo-{change.key}", 2)  # re-entrant, during the replay

        with anyio.fail_after(5):
            sub = await store.changes(replay=True).subscribe_async(echo)
            await store.set("c", 3)
        await sub.dispose_async()
        assert seen == [("a", 1), ("b", 1), ("echo-a", 2), ("echo-b", 2), ("c", 3)]


async def test_a_writer_during_the_replay_waits_and_comes_after_it() -> None:
    async with MemoryStore() as store:
        await store.set("a", 1)
        replaying = anyio.Event()
        release = anyio.Event()
        seen: list[tuple[str, int]] = []

        async def slow(change: Change) -> None:
            assert isinstance(change, SetChange)
            if change.key == "a" and change.value == 1:
                replaying.set()
                await release.wait()
            seen.append((change.key, change.value))

        wrote = anyio.Event()

        async def write() -> None:
            await replaying.wait()
            await store.set("b", 2)
            wrote.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(write)
            tg.start_soon(store.changes(replay=True).subscribe_async, slow)
            await replaying.wait()
            await anyio.sleep(0.01)
            assert not wrote.is_set()  # the writer waits behind the replay
            release.set()
        assert seen == [("a", 1), ("b", 2)]


async def test_a_cancelled_replay_unsubscribes_and_releases_writers() -> None:
    async with MemoryStore() as store:
        await store.set("a", 1)

        async def stuck(change: Change) -> None:
            await anyio.sleep_forever()

        with anyio.move_on_after(0.02):
            await store.changes(replay=True).subscribe_async(stuck)
        with anyio.fail_after(1):
            await store.set("b", 2)
        stats = store.statistics()
        assert (stats.feeds, stats.subscriptions) == (0, 0)


async def test_a_feed_still_iterates_and_observes_at_once() -> None:
    async with MemoryStore() as store:
        recorder = Recorder()
        feed = store.changes("k")
        await feed.subscribe_async(recorder)
        async with feed:
            await store.set("k", 1)
            change = await feed.__anext__()
        assert isinstance(change, SetChange)
        assert values_of(recorder.values) == [1]


async def test_to_async_iterator_over_a_store_pipeline() -> None:
    store = MemoryStore()  # not run, so the writer task may close it
    pipeline: AsyncObservable[int] = rx.pipe(
        store.changes(), rx.map(lambda c: c.value if isinstance(c, SetChange) else -1)
    )
    got: list[int] = []

    async def write() -> None:
        for i in range(3):
            await store.set("k", i)
        await store.aclose()

    async with to_async_iterator(pipeline) as values, anyio.create_task_group() as tg:
        tg.start_soon(write)
        async for value in values:
            got.append(value)
    assert got == [0, 1, 2]
