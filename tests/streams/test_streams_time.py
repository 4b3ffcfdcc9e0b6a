"""Time operators and buffers on virtual time (trio's MockClock, a virtual asyncio loop).

Durations are in virtual seconds: an hour-long debounce takes no real time.
Diagrams avoid ties between a source event and an operator's timer (their
order within one tick is up to the scheduler).
"""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest
from aioreactive import AsyncObservable

from pepperflow.stores import MemoryStore
from pepperflow.streams import (
    Change,
    SetChange,
    Subject,
    buffer,
    debounce,
    delay,
    latest_per_key,
    pipe,
    sample,
    throttle,
    window,
)
from pepperflow.testing import MakeOperator, check_stream, cold, to_marbles, virtual_time_backend
from tests.streams.test_streams_interop import Recorder

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return virtual_time_backend(str(request.param))


BATCHES = {"a": "a", "b": "b", "c": "c", "A": ["a", "b"], "B": ["c", "d"], "C": ["e"]}

CASES: dict[str, tuple[MakeOperator, list[tuple[str, str]], dict[str, Any], bool]] = {
    "debounce(3)": (
        lambda tg: debounce(3, task_group=tg),
        [("-a-b-c-|", "-------(c|)"), ("-ab-----cd-----|", "-----b------d--|")],
        {},
        True,
    ),
    "throttle(3)": (lambda tg: throttle(3), [("-abc---d-e--f-|", "-a-----d----f-|")], {}, False),
    "sample(2)": (
        lambda tg: sample(2, task_group=tg),
        [("-a-b-c-|", "--a-b-c|")],
        {},
        True,
    ),
    "sample(4)": (lambda tg: sample(4, task_group=tg), [("-a-b-c-|", "----b--(c|)")], {}, True),
    "delay(2)": (
        lambda tg: delay(2, task_group=tg),
        [("-a-b----c-|", "---a-b----c-|"), ("-a-#", "---a-#")],
        {},
        True,
    ),
    "buffer(2)": (
        lambda tg: buffer(2),
        [("-a-b-c-d-e-|", "---A---B---(C|)"), ("-a-b-c-#", "---A---(D#)")],
        BATCHES | {"D": ["c"]},
        False,
    ),
    "buffer(seconds=3)": (
        lambda tg: buffer(seconds=3, task_group=tg),
        [("-ab------c-|", "----A------(B|)")],
        {"a": "a", "b": "b", "c": "c", "A": ["a", "b"], "B": ["c"]},
        True,
    ),
    "buffer(2, seconds=3)": (
        lambda tg: buffer(2, seconds=3, task_group=tg),
        [("-abc------|", "--A---B---|")],
        {"a": "a", "b": "b", "c": "c", "A": ["a", "b"], "B": ["c"]},
        True,
    ),
    "window(2)": (lambda tg: window(2), [], {}, False),
    "window(seconds=3)": (lambda tg: window(seconds=3, task_group=tg), [], {}, True),
    "latest_per_key": (lambda tg: latest_per_key(lambda v: v, task_group=tg), [], {}, True),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_operator_keeps_the_stream_rules_and_its_diagram(name: str) -> None:
    make, cases, values, decoupled = CASES[name]
    await check_stream(make, cases, values=values or None, decoupled=decoupled)


@pytest.mark.parametrize(
    ("make", "source", "expected"),
    [
        (lambda tg: debounce(2, task_group=tg), "-ab-----cd|", "----b-----(d|)"),
        (lambda tg: sample(3, task_group=tg), "-ab--c-----d|", "---b--c-----(d|)"),
    ],
    ids=["debounce(2)", "sample(3)"],
)
async def test_docstring_diagrams(make: MakeOperator, source: str, expected: str) -> None:
    async with anyio.create_task_group() as tg:
        assert await to_marbles(pipe(cold(source, task_group=tg), make(tg))) == expected


async def test_time_is_virtual_an_hour_long_debounce_takes_no_real_time() -> None:
    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        before = anyio.current_time()
        out = await to_marbles(pipe(cold("-a|", task_group=tg), debounce(3600, task_group=tg)))
        assert out == "--(a|)"
        await anyio.sleep(3600)
        assert anyio.current_time() - before == 3602
    assert time.perf_counter() - started < 2


async def test_window_sends_windows_that_carry_their_values() -> None:
    windows: list[Recorder] = []

    async def on_window(w: AsyncObservable[str]) -> None:
        windows.append(Recorder())
        await w.subscribe_async(windows[-1])

    async with anyio.create_task_group() as tg:
        outer = Recorder()
        await pipe(cold("-a-b-c-d-e-|", task_group=tg), window(2)).subscribe_async(
            on_window, outer.athrow, outer.aclose
        )
        await outer.ended.wait()
    assert [w.values for w in windows] == [["a", "b"], ["c", "d"], ["e"]]
    assert all(w.closed for w in windows)


async def test_a_time_window_ends_seconds_after_its_first_value() -> None:
    starts: list[float] = []
    ends: list[float] = []
    t0 = anyio.current_time()

    async def on_window(w: AsyncObservable[str]) -> None:
        starts.append(anyio.current_time() - t0)

        async def closed() -> None:
            ends.append(anyio.current_time() - t0)

        await w.subscribe_async(None, None, closed)

    async with anyio.create_task_group() as tg:
        outer = Recorder()
        source = cold("-ab-----c-|", task_group=tg)
        await pipe(source, window(seconds=3, task_group=tg)).subscribe_async(
            on_window, outer.athrow, outer.aclose
        )
        await outer.ended.wait()
    assert (starts, ends) == ([1, 8], [4, 10])


async def test_latest_per_key_conflates_while_the_observer_is_busy() -> None:
    # The docstring's diagram: one key, an observer taking 5 ticks per value.
    t0 = anyio.current_time()
    got: list[tuple[float, str]] = []

    async def slow(value: str) -> None:
        got.append((anyio.current_time() - t0, value))
        await anyio.sleep(5)

    async with anyio.create_task_group() as tg:
        recorder = Recorder()
        source = cold("-1-2-3-4-5-|", task_group=tg)
        await pipe(source, latest_per_key(lambda v: "k", task_group=tg)).subscribe_async(
            slow, recorder.athrow, recorder.aclose
        )
        await recorder.ended.wait()
        assert anyio.current_time() - t0 == 16
    assert got == [(1, "1"), (6, "3"), (11, "5")]


async def test_latest_per_key_keeps_the_newest_change_of_each_key_by_default() -> None:
    async with MemoryStore() as store, anyio.create_task_group() as tg:
        release = anyio.Event()
        seen: list[tuple[str, Any]] = []

        async def slow(change: Change) -> None:
            await release.wait()
            assert isinstance(change, SetChange)
            seen.append((change.key, change.value))

        await pipe(store.changes(), latest_per_key(task_group=tg)).subscribe_async(slow)
        for i in range(100):  # the writer never waits (and these sets never yield)
            await store.set(f"k{i % 3}", i)
        release.set()
        await anyio.sleep(1)
        tg.cancel_scope.cancel()
    # One pending change per key, in the order of their newest change.
    assert seen == [("k1", 97), ("k2", 98), ("k0", 99)]


async def test_latest_per_key_makes_the_producer_wait_at_max_keys() -> None:
    async with anyio.create_task_group() as tg:
        subject: Subject[int] = Subject()
        release = anyio.Event()

        async def slow(value: int) -> None:
            await release.wait()

        await pipe(subject, latest_per_key(lambda v: v, task_group=tg, max_keys=2)).subscribe_async(
            slow
        )
        await subject.asend(0)  # taken by the observer, which blocks
        await anyio.sleep(1)
        await subject.asend(1)
        await subject.asend(2)  # two keys pending: full
        with anyio.move_on_after(10) as scope:
            await subject.asend(3)
        assert scope.cancelled_caught
        await subject.asend(2)  # a pending key: conflated, no wait
        release.set()
        with anyio.fail_after(1):
            await subject.asend(3)
        tg.cancel_scope.cancel()


async def test_delay_makes_the_producer_wait_beyond_max_pending() -> None:
    async with anyio.create_task_group() as tg:
        subject: Subject[int] = Subject()
        recorder = Recorder()
        await pipe(subject, delay(10, task_group=tg, max_pending=2)).subscribe_async(recorder)
        t0 = anyio.current_time()
        for i in range(3):
            await subject.asend(i)
        assert anyio.current_time() - t0 == 10  # the third waited for the first to go
        await subject.aclose()  # returns once the end was delivered, 10 s after
        assert anyio.current_time() - t0 == 20
    assert recorder.values == [0, 1, 2]
    assert recorder.closed


async def test_a_delayed_observable_can_be_subscribed_again_and_loses_no_observer_error() -> None:
    async with anyio.create_task_group() as tg:
        delayed = pipe(cold("-a-b|", task_group=tg), delay(1, task_group=tg))
        assert await to_marbles(delayed) == "--a-b|"
        assert await to_marbles(delayed) == "--a-b|"
        recorder = Recorder()
        boom = ValueError("boom")

        async def fail(value: str) -> None:
            raise boom

        await delayed.subscribe_async(fail, recorder.athrow)
        await anyio.sleep(5)
    assert recorder.errors == [boom]


async def test_a_timed_buffer_makes_the_producer_wait_while_a_batch_is_delivered() -> None:
    async with anyio.create_task_group() as tg:
        subject: Subject[int] = Subject()
        batches: list[list[int]] = []

        async def slow(batch: list[int]) -> None:
            batches.append(batch)
            await anyio.sleep(10)

        await pipe(subject, buffer(seconds=1, task_group=tg)).subscribe_async(slow)
        t0 = anyio.current_time()
        await subject.asend(1)
        await anyio.sleep(2)  # the batch [1] is being delivered until t=11
        await subject.asend(2)
        assert anyio.current_time() - t0 == 11
        await subject.aclose()
    assert batches == [[1], [2]]


async def test_throttle_needs_no_task_and_lets_the_producer_wait() -> None:
    subject: Subject[int] = Subject()
    got: list[int] = []

    async def slow(value: int) -> None:
        await anyio.sleep(1)
        got.append(value)

    await pipe(subject, throttle(5)).subscribe_async(slow)
    t0 = anyio.current_time()
    await subject.asend(1)
    assert anyio.current_time() - t0 == 1
    await subject.asend(2)  # inside the window: dropped at once
    assert anyio.current_time() - t0 == 1
    await anyio.sleep(5)
    await subject.asend(3)
    assert got == [1, 3]


async def test_a_time_operator_refuses_a_task_group_that_is_closed() -> None:
    async with anyio.create_task_group() as tg:
        pass
    with pytest.raises(RuntimeError):
        await pipe(Subject[int](), debounce(1, task_group=tg)).subscribe_async(Recorder())


async def test_the_caller_cancelling_its_task_group_ends_the_operators_tasks() -> None:
    with anyio.fail_after(100):
        async with anyio.create_task_group() as tg:
            subject: Subject[int] = Subject()
            await pipe(subject, sample(1, task_group=tg)).subscribe_async(Recorder())
            await anyio.sleep(10)
            tg.cancel_scope.cancel()  # the sampling task ends with it


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda tg: debounce(0, task_group=tg), ValueError, r"debounce\(seconds\): seconds must"),
        (lambda tg: debounce(float("inf"), task_group=tg), ValueError, "positive and at most"),
        (lambda tg: debounce(True, task_group=tg), ValueError, "got bool: True"),
        (lambda tg: debounce(1, task_group=None), TypeError, "task_group= must be"),  # type: ignore[arg-type]
        (lambda tg: throttle(-1), ValueError, r"throttle\(seconds\)"),
        (lambda tg: sample("1", task_group=tg), ValueError, r"sample\(seconds\)"),  # type: ignore[arg-type]
        (lambda tg: delay(1, task_group=tg, max_pending=0), ValueError, "max_pending"),
        (lambda tg: buffer(), ValueError, "pass count=, seconds=, or both"),
        (lambda tg: buffer(0), ValueError, r"buffer\(count\): count must be an int >= 1"),
        (lambda tg: buffer(seconds=1), TypeError, r"buffer\(seconds=...\) runs a timer"),
        (lambda tg: window(seconds=1, task_group=3), TypeError, "task_group= must be"),  # type: ignore[arg-type]
        (lambda tg: latest_per_key(task_group=tg, max_keys=0), ValueError, "max_keys"),
        (lambda tg: latest_per_key(3, task_group=tg), TypeError, "key must be callable"),  # type: ignore[arg-type]
    ],
)
async def test_bad_arguments_are_refused_with_a_clear_error(
    make: Any, error: type[Exception], message: str
) -> None:
    async with anyio.create_task_group() as tg:
        with pytest.raises(error, match=message):
            make(tg)
