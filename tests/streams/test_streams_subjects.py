"""Subject and LatestSubject: order, backpressure, errors, late subscribers, replay."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from pepperflow.streams import LatestSubject, Subject
from tests.streams.test_streams_interop import Recorder

pytestmark = pytest.mark.anyio


async def test_every_subscriber_gets_every_value_in_order_then_the_end() -> None:
    subject: Subject[int] = Subject()
    first, second = Recorder(), Recorder()
    await subject.subscribe_async(first)
    await subject.subscribe_async(second)
    for i in range(3):
        await subject.asend(i)
    await subject.aclose()
    await subject.asend(99)  # ignored after the end
    assert first.values == second.values == [0, 1, 2]
    assert first.closed and second.closed
    assert subject.subscriber_count == 0


async def test_a_subscriber_after_the_end_gets_the_terminal_at_once() -> None:
    subject: Subject[int] = Subject()
    boom = RuntimeError("boom")
    await subject.athrow(boom)
    late = Recorder()
    await subject.subscribe_async(late)
    assert late.errors == [boom]


async def test_asend_returns_after_every_subscriber_took_the_value() -> None:
    subject: Subject[int] = Subject()
    release = anyio.Event()
    took: list[int] = []

    async def slow(value: int) -> None:
        await release.wait()
        took.append(value)

    await subject.subscribe_async(slow)
    sent = anyio.Event()

    async def send() -> None:
        await subject.asend(1)
        sent.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(send)
        await anyio.sleep(0.01)
        assert not sent.is_set()
        release.set()
    assert took == [1]


async def test_concurrent_producers_are_delivered_one_at_a_time_in_arrival_order() -> None:
    subject: Subject[str] = Subject()
    calls: list[str] = []
    busy = False

    async def observer(value: str) -> None:
        nonlocal busy
        assert not busy, "two asend calls overlapped"
        busy = True
        calls.append(value)
        await anyio.sleep(0.001)
        busy = False

    await subject.subscribe_async(observer)

    async def produce(name: str) -> None:
        for i in range(5):
            await subject.asend(f"{name}{i}")

    async with anyio.create_task_group() as tg:
        for name in "abc":
            tg.start_soon(produce, name)
    assert len(calls) == 15
    for name in "abc":
        assert [c for c in calls if c[0] == name] == [f"{name}{i}" for i in range(5)]


async def test_sending_into_the_subject_from_its_own_observer_is_queued_not_deadlocked() -> None:
    subject: Subject[int] = Subject()
    seen: list[int] = []

    async def echo(value: int) -> None:
        seen.append(value)
        if value < 3:
            await subject.asend(value + 10)  # delivered right after this value
            seen.append(-value)

    await subject.subscribe_async(echo)
    with anyio.fail_after(1):
        await subject.asend(1)
        await subject.asend(2)
    assert seen == [1, -1, 11, 2, -2, 12]


async def test_a_failing_subscriber_gets_its_error_and_leaves_the_others_alone() -> None:
    subject: Subject[int] = Subject()
    good, bad = Recorder(), Recorder()
    boom = ValueError("boom")

    async def explode(value: int) -> None:
        raise boom

    await subject.subscribe_async(explode, bad.athrow, bad.aclose)
    await subject.subscribe_async(good)
    await subject.asend(1)
    await subject.asend(2)
    assert bad.errors == [boom]
    assert good.values == [1, 2]
    assert subject.subscriber_count == 1


async def test_dispose_stops_delivery_even_in_the_middle_of_one() -> None:
    subject: Subject[int] = Subject()
    second = Recorder()
    subs: list[Any] = []

    async def first(value: int) -> None:
        await subs[1].dispose_async()  # disposes the second subscriber mid-delivery

    subs.append(await subject.subscribe_async(first))
    subs.append(await subject.subscribe_async(second))
    await subject.asend(1)
    assert second.values == []
    assert subject.subscriber_count == 1


async def test_a_cancelled_producer_hands_queued_values_to_the_next() -> None:
    subject: Subject[str] = Subject()
    got: list[str] = []
    gate = anyio.Event()

    async def observer(value: str) -> None:
        if value == "stuck":
            await gate.wait()
        got.append(value)

    await subject.subscribe_async(observer)
    stuck_scope = anyio.CancelScope()

    async def stuck() -> None:
        with stuck_scope:
            await subject.asend("stuck")

    async with anyio.create_task_group() as tg:
        tg.start_soon(stuck)
        await anyio.sleep(0.01)  # "stuck" is being delivered
        tg.start_soon(subject.asend, "queued")  # waits for its turn
        await anyio.sleep(0.01)
        assert got == []
        stuck_scope.cancel()
    assert got == ["queued"]
    await subject.asend("after")
    assert got == ["queued", "after"]


async def test_latest_subject_replays_the_latest_value_then_follows() -> None:
    subject: LatestSubject[int] = LatestSubject()
    await subject.asend(1)
    await subject.asend(2)
    late = Recorder()
    await subject.subscribe_async(late)
    await subject.asend(3)
    assert late.values == [2, 3]
    assert subject.latest == [3]


async def test_latest_subject_replays_the_latest_value_of_each_key_in_order() -> None:
    subject: LatestSubject[tuple[str, int]] = LatestSubject(key=lambda kv: kv[0])
    for item in [("a", 1), ("b", 1), ("a", 2), ("c", 1)]:
        await subject.asend(item)
    late = Recorder()
    await subject.subscribe_async(late)
    assert late.values == [("b", 1), ("a", 2), ("c", 1)]


async def test_latest_subject_replays_then_the_end_after_it_ended() -> None:
    subject: LatestSubject[int] = LatestSubject()
    await subject.asend(7)
    await subject.aclose()
    late = Recorder()
    await subject.subscribe_async(late)
    assert late.values == [7]
    assert late.closed


async def test_a_subscription_during_a_delivery_gets_each_value_once() -> None:
    subject: LatestSubject[int] = LatestSubject()
    late = Recorder()
    release = anyio.Event()

    async def slow(value: int) -> None:
        await release.wait()

    await subject.subscribe_async(slow)
    async with anyio.create_task_group() as tg:
        tg.start_soon(subject.asend, 1)  # in delivery, blocked in slow
        await anyio.sleep(0.01)
        tg.start_soon(subject.subscribe_async, late)  # waits for the delivery to end
        await anyio.sleep(0.01)
        tg.start_soon(subject.asend, 2)
        await anyio.sleep(0.01)
        release.set()
    assert late.values == [1, 2]


async def test_a_failing_key_fails_the_subject() -> None:
    def key(value: int) -> int:
        return 10 // value

    subject: LatestSubject[int] = LatestSubject(key=key)
    recorder = Recorder()
    await subject.subscribe_async(recorder)
    await subject.asend(5)
    await subject.asend(0)
    await subject.asend(1)
    assert recorder.values == [5]
    assert len(recorder.errors) == 1
    assert isinstance(recorder.errors[0], ZeroDivisionError)


async def test_a_subscriber_failing_on_a_queued_value_gets_its_error_and_leaves() -> None:
    subject: Subject[int] = Subject()
    good, bad = Recorder(), Recorder()
    boom = ValueError("boom")

    async def echo(value: int) -> None:
        if value == 1:
            await subject.asend(2)  # queued: delivered right after 1

    async def explode_on_2(value: int) -> None:
        if value == 2:
            raise boom

    await subject.subscribe_async(echo)
    await subject.subscribe_async(explode_on_2, bad.athrow, bad.aclose)
    await subject.subscribe_async(good)
    await subject.asend(1)
    await subject.asend(3)
    assert bad.errors == [boom]
    assert good.values == [1, 2, 3]
    assert subject.subscriber_count == 2


async def test_a_subscriber_failing_on_the_replay_gets_its_error_and_is_not_subscribed() -> None:
    subject: LatestSubject[tuple[str, int]] = LatestSubject(key=lambda kv: kv[0])
    await subject.asend(("a", 1))
    await subject.asend(("b", 1))
    bad, good = Recorder(), Recorder()
    boom = ValueError("boom")
    got: list[tuple[str, int]] = []

    async def explode_on_b(value: tuple[str, int]) -> None:
        got.append(value)
        if value[0] == "b":
            raise boom

    await subject.subscribe_async(explode_on_b, bad.athrow, bad.aclose)
    await subject.subscribe_async(good)
    await subject.asend(("c", 1))
    assert got == [("a", 1), ("b", 1)]
    assert bad.errors == [boom]
    assert good.values == [("a", 1), ("b", 1), ("c", 1)]
    assert subject.subscriber_count == 1


async def test_sending_into_a_latest_subject_from_its_observer_is_queued_and_remembered() -> None:
    subject: LatestSubject[tuple[str, int]] = LatestSubject(key=lambda kv: kv[0])
    seen: list[tuple[str, int]] = []

    async def echo(value: tuple[str, int]) -> None:
        seen.append(value)
        if value[1] < 2:
            await subject.asend((value[0], value[1] + 1))  # delivered right after

    await subject.subscribe_async(echo)
    with anyio.fail_after(1):
        await subject.asend(("a", 0))
        await subject.asend(("b", 1))
    assert seen == [("a", 0), ("a", 1), ("a", 2), ("b", 1), ("b", 2)]
    assert subject.latest == [("a", 2), ("b", 2)]


async def test_a_key_failing_on_a_queued_value_fails_the_subject_after_the_value_before() -> None:
    def key(value: int) -> int:
        return 10 // value

    subject: LatestSubject[int] = LatestSubject(key=key)
    recorder = Recorder()

    async def echo(value: int) -> None:
        if value == 5:
            await subject.asend(0)  # queued; its key raises

    await subject.subscribe_async(echo)
    await subject.subscribe_async(recorder)
    await subject.asend(5)
    await subject.asend(1)
    assert recorder.values == [5]
    assert len(recorder.errors) == 1
    assert isinstance(recorder.errors[0], ZeroDivisionError)
    assert subject.latest == [5]
