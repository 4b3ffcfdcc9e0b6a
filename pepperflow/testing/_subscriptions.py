"""Store checks of subscribers: callbacks awaited in registration and
commit order before the write returns, a broken callback counted and
contained, a callback that writes to the store, and a writer cancelled
while a callback runs.
"""

from __future__ import annotations

import anyio

from ..streams.events import Change, SetChange
from ._support import MakeStore, Recorder


async def check_subscribers(make_store: MakeStore) -> None:
    async with make_store() as store:
        seen: list[str] = []
        order: list[int] = []

        async def slow(change: Change) -> None:
            await anyio.sleep(0.001)
            seen.append(f"async:{change.key}")
            order.append(change.seq)

        def fast(change: Change) -> None:
            seen.append(f"sync:{change.key}")

        def broken(change: Change) -> None:
            raise RuntimeError("subscriber bug")

        errors_before = store.statistics().callback_errors
        store.subscribe("k", broken)
        store.subscribe("k", slow)
        sub = store.subscribe("k", fast)
        await store.set("k1", 1)
        assert seen == ["async:k1", "sync:k1"], "awaited in registration order before return"
        assert store.statistics().callback_errors == errors_before + 1
        sub.unsubscribe()
        sub.unsubscribe()
        await store.set("k2", 2)
        await store.set("other", 0)
        assert seen == ["async:k1", "sync:k1", "async:k2"]

        # Concurrent writers: every subscriber sees commit order.
        async with anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(store.set, f"k:{i}", i)
        assert order == sorted(order), "callbacks ran out of commit order"
        assert len(order) == 22


async def check_subscriber_writes(make_store: MakeStore) -> None:
    """A callback may write to the store; its change is delivered after."""
    async with make_store() as store:

        async def audit(change: Change) -> None:
            if change.key.startswith("data:") and isinstance(change, SetChange):
                await store.set(f"audit:{change.key}", change.version)

        store.subscribe("data:", audit)
        recorder = Recorder.on(store)
        with anyio.fail_after(5):
            await store.set("data:1", "x")
        assert await store.get("audit:data:1") == 1
        seqs = [c.seq for c in recorder.changes]
        assert seqs == sorted(seqs)
        assert [c.key for c in recorder.changes] == ["data:1", "audit:data:1"]


async def check_cancelled_writer(make_store: MakeStore) -> None:
    """A writer cancelled while a callback runs: the change still reaches everyone."""
    async with make_store() as store:
        scope = anyio.CancelScope()

        async def slow(change: Change) -> None:
            scope.cancel()  # the writer is cancelled while this callback awaits
            await anyio.sleep(0.05)

        store.subscribe("slow", slow)
        recorder = Recorder.on(store)
        with scope:
            await store.set("slow", 1)
        assert scope.cancelled_caught
        assert await store.get("slow") == 1, "the committed write stays"
        with anyio.fail_after(2):  # delivered already, or soon by the store's own task
            while not recorder.changes:
                await anyio.sleep(0.005)
        assert [c.key for c in recorder.changes] == ["slow"]
        await store.set("after", 2)
        assert [c.key for c in recorder.changes] == ["slow", "after"]
