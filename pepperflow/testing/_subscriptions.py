"""Store checks of subscribers: callbacks awaited in registration and
commit order before the write returns, a broken callback counted and
contained, a callback that writes to the store, a writer cancelled while
a callback runs, and a callback that never returns.
"""

from __future__ import annotations

from collections.abc import Awaitable

import anyio
import anyio.abc

from ..stores.base import Store
from ..streams.events import Change, SetChange
from ._support import MakeStore, Recorder

#: Seconds a check waits for a step that must not hang.
_BOUND = 10.0


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


async def check_hung_callback(make_store: MakeStore) -> None:
    """A callback that never returns holds up its store's later deliveries, but
    never a write no subscription matches; cancelling the writer in whose
    task it runs cancels it, and the store delivers again."""
    async with make_store() as store, anyio.create_task_group() as tg:
        release = anyio.Event()  # ends the hung calls when the check ends, come what may
        called = {key: anyio.Event() for key in ("hang:1", "hang:2")}
        cancelled: list[str] = []

        async def hang(change: Change) -> None:
            called[change.key].set()
            try:
                await release.wait()
            except anyio.get_cancelled_exc_class():
                cancelled.append(change.key)
                raise

        store.subscribe("hang:", hang)
        behind = Recorder.on(store, "hang:")  # registered after the hung callback
        other = Recorder.on(store, "other:")
        try:
            first, first_done = _writer(tg, store, "hang:1")
            await _within(called["hang:1"].wait(), "the callback is called with hang:1")
            await _within(store.set("free", 0), "a write no subscription matches")
            second, second_done = _writer(tg, store, "hang:2")
            await _within(_committed(store, "hang:2"), "the write of hang:2 commits")
            first.cancel()
            await _within(first_done.wait(), "cancelling the writer of hang:1 ends its wait")
            await _within(called["hang:2"].wait(), "hang:2, once hang:1's writer is cancelled,")
            assert cancelled == ["hang:1"], (
                "the call with hang:1 runs in its writer's task, so cancelling the writer"
                f" cancels it; cancelled calls: {cancelled}"
            )
            second.cancel()
            await _within(second_done.wait(), "cancelling the writer of hang:2 ends its wait")
            await _within(store.set("other:1", 1), "a write once the hung calls are cancelled")
            await _within(_recorded(behind, 2), "the changes the hung callback held up")
        finally:
            release.set()
        assert cancelled == ["hang:1", "hang:2"], f"cancelled calls: {cancelled}"
        assert [c.key for c in behind.changes] == ["hang:1", "hang:2"]
        assert [c.key for c in other.changes] == ["other:1"]
        assert await store.get("hang:1") == 1 and await store.get("hang:2") == 1, "writes stay"


def _writer(
    tg: anyio.abc.TaskGroup, store: Store[object], key: str
) -> tuple[anyio.CancelScope, anyio.Event]:
    """Start ``set(key, 1)`` in a task; its cancel scope, and an event set when it ends."""
    scope, done = anyio.CancelScope(), anyio.Event()

    async def write() -> None:
        try:
            with scope:
                await store.set(key, 1)
        finally:
            done.set()

    tg.start_soon(write)
    return scope, done


async def _within(step: Awaitable[object], what: str) -> None:
    """Await ``step``; AssertionError naming ``what`` if it takes :data:`_BOUND` seconds."""
    with anyio.move_on_after(_BOUND):
        await step
        return
    raise AssertionError(f"{what}: still waiting after {_BOUND} s")


async def _committed(store: Store[object], key: str) -> None:
    while await store.get(key) is None:
        await anyio.sleep(0.005)


async def _recorded(recorder: Recorder, count: int) -> None:
    while len(recorder.changes) < count:
        await anyio.sleep(0.005)
