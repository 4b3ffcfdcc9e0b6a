"""Store checks of change feeds (``store.changes()``): replay then live
changes in commit order, a replay opened under concurrent writes, the four
overflow policies, and the end of a feed when its store closes.
"""

from __future__ import annotations

import contextlib
from typing import Any

import anyio
import anyio.lowlevel

from .._errors import FeedOverflow
from ..stores.base import Store
from ..stores.feed import ChangeFeed
from ..streams.events import Change, SetChange
from ._support import MakeStore, all_items, kinds, raises, state_of, value_of


async def check_feed_live_and_replay(make_store: MakeStore) -> None:
    async with make_store() as store:
        await store.set_many({"a:1": 1, "a:2": 2, "b:1": 3})
        await store.set("a:1", 10)
        async with store.changes("a:", replay=True) as feed:
            await store.set("a:3", 4)
            await store.delete("a:2")
            await store.set("b:2", 0)
            got = [await feed.__anext__() for _ in range(4)]
        assert kinds(got) == [
            ("SetChange", "a:2"),
            ("SetChange", "a:1"),
            ("SetChange", "a:3"),
            ("DeleteChange", "a:2"),
        ], "replay in commit order, then live"
        assert [c.seq for c in got] == sorted(c.seq for c in got)
        assert isinstance(got[1], SetChange) and got[1].value == 10
        async with store.changes("b:") as live:
            await store.set("b:3", 1)
            first = await live.__anext__()
        assert first.key == "b:3", "without replay only later changes come"


async def check_feed_replay_under_writes(make_store: MakeStore) -> None:
    """A feed opened while others write ends with the store's state: no gap, no dup."""
    async with make_store() as store:
        seen: list[Change] = []

        async def writer(name: str) -> None:
            for i in range(200):
                await store.set(f"{name}:{i % 20}", i)
                if i % 3 == 0:
                    await store.delete(f"{name}:{(i + 7) % 20}")
                await anyio.lowlevel.checkpoint()

        async def consume(feed: ChangeFeed) -> None:
            async for change in feed:
                seen.append(change)

        feed = store.changes(replay=True, buffer=100_000)
        async with anyio.create_task_group() as consumers:
            async with anyio.create_task_group() as writers:
                writers.start_soon(writer, "x")
                writers.start_soon(writer, "y")
                with anyio.fail_after(10):
                    while store.statistics().seq < 50:
                        await anyio.sleep(0.001)
                await feed.__aenter__()
                assert feed.statistics().replay_pending > 0, "opened mid-way"
                consumers.start_soon(consume, feed)
            await feed.__aexit__(None, None, None)  # the consumer drains, then ends
        seqs = [c.seq for c in seen]
        assert len(seqs) == len(set(seqs)), "a change was delivered twice"
        assert seqs == sorted(seqs), "out of commit order"
        assert state_of(seen) == await all_items(store), "the feed missed a change"


async def check_feed_overflow(make_store: MakeStore) -> None:
    async with make_store() as store:
        await _overflow_drop_latest_error(store)
        await _overflow_block(store)
        await _block_loses_nothing(store)


async def _overflow_drop_latest_error(store: Store[Any]) -> None:
    """``drop_oldest``, ``latest_per_key`` and ``error`` feeds of two changes each."""
    async with (
        store.changes(buffer=2, overflow="drop_oldest") as dropping,
        store.changes(buffer=2, overflow="latest_per_key") as latest,
        store.changes(buffer=2, overflow="error") as failing,
    ):
        for i in range(5):
            await store.set("a", i)
        await store.set("b", 0)
        assert [value_of(await dropping.__anext__()) for _ in range(2)] == [4, 0]
        assert dropping.statistics().dropped == 4
        got = [await latest.__anext__() for _ in range(2)]
        assert [(c.key, value_of(c)) for c in got] == [("a", 4), ("b", 0)]
        assert [value_of(await failing.__anext__()) for _ in range(2)] == [0, 1]
        with raises(FeedOverflow, 'the consumer of an overflowed "error" feed', match="overflow"):
            await failing.__anext__()


async def _overflow_block(store: Store[Any]) -> None:
    """A full ``block`` feed makes the writer wait; its cancelled change is not lost."""
    async with store.changes("blk", buffer=2, overflow="block") as blocking:
        await store.set("blk", 1)
        await store.set("blk", 2)
        with anyio.move_on_after(0.05) as scope:
            await store.set("blk", 3)
        assert scope.cancelled_caught, "a full blocking feed makes the writer wait"
        got = [await blocking.__anext__() for _ in range(2)]
        assert [value_of(c) for c in got] == [1, 2]
        # The cancelled writer's change was committed: the feed gets it, or,
        # where the cancelled writer was the one waiting, fails rather than
        # silently skip it.
        assert await store.get("blk") == 3
        with contextlib.suppress(FeedOverflow), anyio.fail_after(2):
            third = await blocking.__anext__()
            assert value_of(third) == 3


async def _block_loses_nothing(store: Store[Any]) -> None:
    """A feed (``block`` by default) with room for one change: every change arrives, in order."""
    async with store.changes("w", buffer=1) as waiting:
        values: list[int] = []

        async def consume() -> None:
            async for change in waiting:
                assert isinstance(change, SetChange)
                values.append(change.value)
                if len(values) == 50:
                    return

        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            for i in range(50):
                await store.set("w", i)
        assert values == list(range(50)), "block loses nothing"


async def check_feed_ends_on_close(make_store: MakeStore) -> None:
    store = make_store()
    async with store:
        feed = store.changes()
        await feed.__aenter__()
        await store.set("k", 1)
    got = [change async for change in feed]
    assert [c.key for c in got] == ["k"], "buffered changes, then the end"
    await feed.__aexit__(None, None, None)
