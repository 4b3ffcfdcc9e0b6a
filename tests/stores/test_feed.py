"""Change feeds: lifecycle, statistics and overflow details."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from pepperflow.stores import MemoryStore, Overflow
from pepperflow.streams import SetChange

pytestmark = pytest.mark.anyio


async def test_a_feed_is_entered_once_and_before_iterating() -> None:
    async with MemoryStore() as store:
        feed = store.changes()
        with pytest.raises(RuntimeError, match=r"async with store\.changes"):
            await feed.__anext__()
        async with feed:
            with pytest.raises(RuntimeError, match="entered once"):
                await feed.__aenter__()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"buffer": 0}, "buffer must be an int >= 1"),
        ({"buffer": 1.5}, "buffer must be an int >= 1"),
        ({"overflow": "drop"}, "overflow must be one of"),
    ],
)
async def test_bad_feed_options(kwargs: dict[str, object], message: str) -> None:
    async with MemoryStore() as store:
        with pytest.raises(ValueError, match=message):
            store.changes(**kwargs)  # type: ignore[arg-type]


async def test_latest_per_key_makes_the_writer_wait_when_keys_fill_the_buffer() -> None:
    async with MemoryStore() as store, store.changes(buffer=2, overflow="latest_per_key") as feed:
        await store.set("a", 1)
        await store.set("b", 1)
        await store.set("a", 2)  # conflated, no wait
        with anyio.move_on_after(0.05) as scope:
            await store.set("c", 1)
        assert scope.cancelled_caught
        stats = feed.statistics()
        assert (stats.buffered, stats.conflated, stats.overflowed) == (2, 1, True)


async def test_closing_a_feed_releases_a_blocked_writer() -> None:
    async with MemoryStore() as store:
        feed = store.changes(buffer=1)
        await feed.__aenter__()
        await store.set("a", 1)
        async with anyio.create_task_group() as tg:
            tg.start_soon(store.set, "a", 2)
            await anyio.sleep(0.01)
            await feed.__aexit__(None, None, None)
        assert await store.get("a") == 2
        assert store.statistics().feeds == 0
        assert [c.value async for c in feed if isinstance(c, SetChange)] == [1]


async def test_statistics_count_what_the_feed_did() -> None:
    async with MemoryStore() as store, store.changes("k", replay=True, buffer=3) as feed:
        await store.set("k", 1)
        stats = feed.statistics()
        assert (stats.pattern, stats.buffered, stats.delivered) == ("k", 1, 0)
        await feed.__anext__()
        assert feed.statistics().delivered == 1
        assert store.statistics().feeds == 1
    assert feed.statistics().closed


async def test_an_overflowed_feed_no_longer_counts_as_subscribed() -> None:
    async with MemoryStore() as store, store.changes(buffer=1, overflow="error") as feed:
        await store.set("a", 1)
        await store.set("a", 2)
        stats = store.statistics()
        assert (stats.feeds, stats.subscriptions) == (0, 0)
        assert feed.statistics().overflowed


@pytest.mark.parametrize("overflow", ["block", "latest_per_key"])
async def test_take_hands_over_what_the_feed_holds_without_waiting(overflow: Overflow) -> None:
    async with MemoryStore() as store:
        await store.set("old", 0)
        async with store.changes(replay=True, buffer=3, overflow=overflow) as feed:
            for i in range(3):
                await store.set(f"k{i}", i)
            with anyio.fail_after(10):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(store.set, "k3", 3)
                    while store.statistics().seq < 5:  # committed, now waiting for room
                        await anyio.lowlevel.checkpoint()
                    taken = feed.take(2)
                    assert [c.key for c in taken] == ["old", "k0"], "the replay first, in order"
                    assert [c.key for c in feed.take(10)] == ["k1", "k2"]
                # the writer got room and returned
            assert [c.key for c in feed.take(10)] == ["k3"]
            assert feed.take(10) == []
            assert feed.statistics().delivered == 5
