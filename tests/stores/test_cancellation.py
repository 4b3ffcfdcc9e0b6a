"""Cancellation at any await leaves the store and its subscribers consistent."""

from __future__ import annotations

import anyio
import pytest

from pepperflow.stores import MemoryStore
from pepperflow.streams import Change, fold
from tests.support.waiting import wait_for

pytestmark = pytest.mark.anyio


async def test_cancelled_writers_never_cost_a_subscriber_a_change() -> None:
    """Every callback is called with every change, in order, and feeds lose nothing.

    A callback awaiting when its writer is cancelled sees the cancellation
    (it runs in the writer's task); it was still called with the change.
    A cancelled writer returns at once: the store's own task delivers what
    it left.
    """
    async with MemoryStore() as store, store.changes(buffer=10_000) as feed:
        slow_seen: list[Change] = []
        fast_seen: list[Change] = []

        async def slow(change: Change) -> None:
            slow_seen.append(change)
            await anyio.sleep(0.002)

        store.subscribe(None, slow)
        store.subscribe(None, fast_seen.append)

        async def writer(n: int) -> None:
            for i in range(20):
                with anyio.move_on_after(0.001 * ((n + i) % 3)):
                    await store.set(f"k{n}:{i % 4}", i)

        async with anyio.create_task_group() as tg:
            for n in range(6):
                tg.start_soon(writer, n)
        await wait_for(fast_seen, store.statistics().seq)
        await wait_for(slow_seen, store.statistics().seq)
        state = {key: await store.get(key) async for key in store.scan()}
        fed = [await feed.__anext__() for _ in range(feed.statistics().buffered)]
        for seen in (fast_seen, slow_seen, fed):
            seqs = [c.seq for c in seen]
            assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
            assert {k: c.value for k, c in fold(seen).items()} == state
        assert len(fast_seen) == store.statistics().seq


async def test_cancelling_the_expiry_task_mid_delivery_loses_no_expiry() -> None:
    """Every expiry reaches the callback; the call in progress when the store
    closes sees the cancellation (it runs in the store's task)."""
    store = MemoryStore()
    seen: list[Change] = []

    async def slow(change: Change) -> None:
        seen.append(change)
        await anyio.sleep(0.01)

    store.subscribe(None, slow)
    async with store:
        await store.set_many({f"k{i}": i for i in range(5)}, ttl=0.01)
        await anyio.sleep(0.02)  # the expiry task is delivering when we close
    kinds = [type(c).__name__ for c in seen]
    assert kinds.count("ExpireChange") == 5
