"""A store's ``set_many`` into pepperflow's fused ``map``/``filter``: the feed
hands the changes committed together to the chain in one call (a run), and
every rule of one change at a time still holds: commit order, a write from
inside after the run, a cancelled writer's rest delivered by the store, an
error or a dispose part way ending it with nothing more sent, the store's
close after the value being sent."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from aioreactive import AsyncDisposable, AsyncObserver

from pepperflow.stores import MemoryStore
from pepperflow.streams import Change, SetChange, filter, map, pipe
from pepperflow.streams._core import TakesRuns
from pepperflow.streams.mapping import _Steps

pytestmark = pytest.mark.anyio


class Recorder(AsyncObserver[Any]):
    """Records values and terminals; ``on_value`` runs inside each ``asend``."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.errors: list[Exception] = []
        self.closed = 0

    async def on_value(self, value: Any) -> None:
        return None

    async def asend(self, value: Any) -> None:
        self.values.append(value)
        await self.on_value(value)

    async def athrow(self, error: Exception) -> None:
        self.errors.append(error)

    async def aclose(self) -> None:
        self.closed += 1


def is_set(change: Change) -> bool:
    return isinstance(change, SetChange)


def key_value(change: Change) -> tuple[str, Any]:
    assert isinstance(change, SetChange)
    return (change.key, change.value)


async def chain(store: MemoryStore[Any], observer: Recorder) -> AsyncDisposable:
    return await pipe(store.changes(), filter(is_set), map(key_value)).subscribe_async(observer)


async def test_a_run_reaches_the_chain_in_commit_order_with_writes_from_inside_after() -> None:
    async with MemoryStore() as store:
        recorder = Recorder()

        async def echo(value: Any) -> None:
            if value[0] == "b":
                await store.set("echo", 9)  # from inside the delivery of the run

        recorder.on_value = echo  # type: ignore[method-assign]
        await chain(store, recorder)
        with anyio.fail_after(5):
            await store.set_many({"a": 1, "b": 2, "c": 3})
            await store.delete("a")  # filtered out by the chain
            await store.set_many({f"k{i}": i for i in range(1000)})
        assert recorder.values[:4] == [("a", 1), ("b", 2), ("c", 3), ("echo", 9)]
        assert recorder.values[4:] == [(f"k{i}", i) for i in range(1000)]


async def test_a_writer_cancelled_part_way_through_a_run_leaves_the_rest_to_the_store() -> None:
    async with MemoryStore() as store:
        entered, never = anyio.Event(), anyio.Event()
        recorder = Recorder()

        async def hold_at_b(value: Any) -> None:
            if value[0] == "b":
                entered.set()
                await never.wait()

        recorder.on_value = hold_at_b  # type: ignore[method-assign]
        await chain(store, recorder)
        async with anyio.create_task_group() as tg:
            tg.start_soon(store.set_many, {"a": 1, "b": 2, "c": 3, "d": 4})
            await entered.wait()
            tg.cancel_scope.cancel()  # the writer stops waiting; its changes go on
        assert await store.get("d") == 4, "the cancelled writer's set_many committed"
        # b's asend was cancelled with its writer (it ran in the writer's task).
        with anyio.fail_after(5):
            await store.set("e", 5)  # after the store delivered the rest, in order
        assert [key for key, _ in recorder.values] == ["a", "b", "c", "d", "e"]


async def test_a_step_that_raises_part_way_ends_the_chain_with_its_error() -> None:
    async with MemoryStore() as store:
        recorder = Recorder()
        boom = ValueError("no c")

        def refuse_c(change: Change) -> Change:
            if change.key == "c":
                raise boom
            return change

        await pipe(store.changes(), map(refuse_c), map(key_value)).subscribe_async(recorder)
        await store.set_many({"a": 1, "b": 2, "c": 3, "d": 4})  # the writer is unaffected
        await store.set("e", 5)
        assert recorder.values == [("a", 1), ("b", 2)]
        assert recorder.errors == [boom]
        assert recorder.closed == 0
        assert store.statistics().feeds == 0, "the chain unsubscribed from the store"
        assert await store.get("d") == 4


async def test_an_observer_that_raises_part_way_gets_its_error_once_and_nothing_more() -> None:
    async with MemoryStore() as store:
        recorder = Recorder()
        boom = RuntimeError("observer bug")

        async def fail_at_b(value: Any) -> None:
            if value[0] == "b":
                raise boom

        recorder.on_value = fail_at_b  # type: ignore[method-assign]
        await chain(store, recorder)
        await store.set_many({"a": 1, "b": 2, "c": 3})
        await store.set_many({"d": 4})
        assert recorder.values == [("a", 1), ("b", 2)]
        assert recorder.errors == [boom]
        assert store.statistics().feeds == 0


async def test_a_dispose_from_inside_a_run_drops_the_rest() -> None:
    async with MemoryStore() as store:
        recorder = Recorder()
        subscription: list[AsyncDisposable] = []

        async def dispose_at_b(value: Any) -> None:
            if value[0] == "b":
                await subscription[0].dispose_async()

        recorder.on_value = dispose_at_b  # type: ignore[method-assign]
        subscription.append(await chain(store, recorder))
        await store.set_many({"a": 1, "b": 2, "c": 3, "d": 4})
        await store.set("e", 5)
        assert recorder.values == [("a", 1), ("b", 2)]
        assert (recorder.errors, recorder.closed) == ([], 0)
        assert store.statistics().feeds == 0


async def test_the_store_closed_during_a_run_closes_the_chain_after_that_value() -> None:
    store: MemoryStore[Any] = MemoryStore()  # not run: it closes from this task
    entered, release = anyio.Event(), anyio.Event()
    recorder = Recorder()
    order: list[str] = []

    async def hold_at_b(value: Any) -> None:
        if value[0] == "b":
            entered.set()
            await release.wait()
            order.append(f"asend b end, closed {recorder.closed}")

    recorder.on_value = hold_at_b  # type: ignore[method-assign]
    await chain(store, recorder)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(store.set_many, {"a": 1, "b": 2, "c": 3})
            await entered.wait()
            await store.aclose()
            order.append("store closed")
            release.set()
    assert order == ["store closed", "asend b end, closed 0"]
    assert recorder.values == [("a", 1), ("b", 2)], "nothing after the store closed"
    assert recorder.closed == 1, "aclose once, after the asend"


async def test_a_set_many_reaches_the_chain_in_one_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """The run path is taken: one call of the chain's ``asend_from`` per
    ``set_many``, none of its ``asend``; a single set takes ``asend``."""
    calls: list[str] = []
    run, one = _Steps.asend_from, _Steps.asend

    async def counted_run(self: Any, values: Any) -> None:
        calls.append(f"run of {len(values)}")
        await run(self, values)

    async def counted_one(self: Any, value: Any) -> None:
        calls.append("one")
        await one(self, value)

    monkeypatch.setattr(_Steps, "asend_from", counted_run)
    monkeypatch.setattr(_Steps, "asend", counted_one)
    async with MemoryStore() as store:
        recorder = Recorder()
        assert isinstance(await chain(store, recorder), TakesRuns)
        await store.set_many({f"k{i}": i for i in range(500)})
        await store.set("k", 1)
        assert calls == ["run of 500", "one"]
        assert len(recorder.values) == 501
