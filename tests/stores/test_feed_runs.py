"""A change feed (overflow "block") takes the changes one MemoryStore write
committed together as a run: buffered as far as there is room, the writer
waiting for room for the rest, in commit order. SqliteStore delivers them
one at a time; the same checks run on it, so both paths keep one contract."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from pepperflow import FeedOverflow
from pepperflow.stores import MemoryStore, SqliteStore, Store
from pepperflow.stores.feed import ChangeFeed
from pepperflow.streams import SetChange

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["memory", "sqlite"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    @asynccontextmanager
    async def open_store() -> AsyncIterator[Store[Any]]:
        store: Store[Any]
        store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "s.db")
        async with store:
            yield store

    return open_store


async def test_a_run_larger_than_the_buffer_waits_for_room_and_arrives_whole(opener: Any) -> None:
    async with opener() as store, store.changes("k:", buffer=100) as feed:
        done = anyio.Event()

        async def write() -> None:
            await store.set_many({f"k:{i:04d}": i for i in range(1000)})
            done.set()

        got: list[int] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(write)
            await _until(lambda: feed.statistics().buffered == 100)
            await anyio.sleep(0.01)
            assert not done.is_set(), "the writer waits while the buffer is full"
            assert feed.statistics().buffered == 100
            with anyio.fail_after(10):
                async for change in feed:
                    got.append(change.value)
                    if len(got) == 1000:
                        break
        assert got == list(range(1000)), "every change, in commit order"
        assert feed.statistics().dropped == 0


async def test_a_writer_cancelled_while_waiting_for_room_fails_the_feed_not_the_store(
    opener: Any,
) -> None:
    async with opener() as store, store.changes(buffer=10) as feed:
        async with anyio.create_task_group() as tg:
            tg.start_soon(store.set_many, {f"k:{i}": i for i in range(50)})
            await _until(lambda: feed.statistics().buffered == 10)  # the writer waits for room
            tg.cancel_scope.cancel()
        assert await store.get("k:49") == 49, "the write committed"
        got = [change.key async for change in _until_overflow(feed)]
        assert got == [f"k:{i}" for i in range(10)], "what was buffered, then the overflow"
        assert store.statistics().feeds == 0


async def test_closing_the_feed_releases_a_writer_waiting_in_a_run(opener: Any) -> None:
    async with opener() as store:
        feed = store.changes(buffer=5)
        async with feed, anyio.create_task_group() as tg:
            tg.start_soon(store.set_many, {f"k:{i}": i for i in range(20)})
            await _until(lambda: feed.statistics().buffered == 5)  # the writer waits for room
            feed.close()
        await store.set("after", 1)  # the store goes on
        assert feed.statistics().buffered == 5


async def test_two_feeds_each_get_the_whole_batch(opener: Any) -> None:
    async with opener() as store, store.changes() as one, store.changes("k:") as two:
        await store.set_many({"k:1": 1, "x": 2, "k:2": 3})
        assert [c.key for c in one.take(10)] == ["k:1", "x", "k:2"]
        assert [c.key for c in two.take(10)] == ["k:1", "k:2"]


async def test_a_memory_store_feed_takes_a_set_many_in_one_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    run = ChangeFeed._receive_run

    async def counted(self: ChangeFeed, changes: Any) -> None:
        calls.append(len(changes))
        await run(self, changes)

    monkeypatch.setattr(ChangeFeed, "_receive_run", counted)
    async with MemoryStore() as store, store.changes() as feed:
        await store.set_many({f"k:{i}": i for i in range(300)})
        assert calls == [300]
        taken = feed.take(1000)
        assert [c.value for c in taken if isinstance(c, SetChange)] == list(range(300))
        assert len(taken) == 300


async def _until(condition: Callable[[], bool]) -> None:
    with anyio.fail_after(10):
        while not condition():
            await anyio.sleep(0.005)


async def _until_overflow(feed: Any) -> AsyncIterator[Any]:
    try:
        async for change in feed:
            yield change
    except FeedOverflow:
        return
    raise AssertionError("the feed ended without its FeedOverflow")
